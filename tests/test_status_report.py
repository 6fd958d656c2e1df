"""Commit statuses sent over real HTTP to a local server that checks each forge's API shape,
and reported by the worker's jobs around a run."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis
from rq import Queue

from pipeline.commit_status import CommitState
from pipeline.config import Project
from pipeline.model import Forge, PushEvent, RunStatus
from pipeline.settings import Settings
from pipeline.status_report import report
from pipeline.store import Store
from tests.support import RecordingServer, forge_fixture, free_port, log_lines, project_file
from webhooks.app import create_app
from workers import jobs
from workers.queue import QUEUE_NAME

SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
BASE = "https://ci.example.com"

# Each forge's documented endpoint, auth header and state word for "success".
EXPECTED = {
    "github": (f"/repos/acme/shop/statuses/{SHA}", "Authorization", "Bearer tok",
               "state", "success"),
    "gitea": (f"/api/v1/repos/acme/shop/statuses/{SHA}", "Authorization", "token tok",
              "state", "success"),
    "gitlab": (f"/api/v4/projects/acme%2Fshop/statuses/{SHA}", "PRIVATE-TOKEN", "tok",
               "state", "success"),
    "bitbucket": (f"/2.0/repositories/acme/shop/commit/{SHA}/statuses/build", "Authorization",
                  "Bearer tok", "state", "SUCCESSFUL"),
}
API_ROOT = {"github": "", "gitea": "/api/v1", "gitlab": "/api/v4", "bitbucket": "/2.0"}


def make_project(forge: str, api: str) -> Project:
    return Project(name="shop", repo="https://forge.test/acme/shop.git", forge=Forge(forge),
                   webhook_secret="s", status_token="tok", status_api=api)


def a_run(store: Store) -> str:
    return store.runs.create(PushEvent(project="shop", branch="main", sha=SHA)).id


@pytest.mark.parametrize("forge", sorted(EXPECTED))
def test_each_forge_gets_its_own_request(forge: str, store: Store) -> None:
    path, header, auth, key, word = EXPECTED[forge]
    run_id = a_run(store)
    with RecordingServer() as server:
        project = make_project(forge, server.url + API_ROOT[forge])
        assert report(store, project, run_id, SHA, CommitState.SUCCESS, BASE)
    [request] = server.requests
    assert request["method"] == "POST" and request["path"] == path
    assert request["headers"][header.lower()] == auth
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"][key] == word
    link = request["body"].get("target_url") or request["body"].get("url")
    assert link == f"{BASE}/runs/{run_id}"
    assert [e.line for e in store.logs.read(run_id) if e.stage == "status"] == [
        f"reported success to {forge}"]


def test_a_refused_or_unreachable_forge_is_logged_and_not_raised(store: Store) -> None:
    run_id = a_run(store)
    with RecordingServer(status=401) as server:
        assert not report(store, make_project("github", server.url), run_id, SHA,
                          CommitState.RUNNING, BASE)
    assert not report(store, make_project("gitea", f"http://127.0.0.1:{free_port()}"), run_id,
                      SHA, CommitState.RUNNING, BASE, timeout=2)
    lines = log_lines(store, run_id)
    assert lines[0].startswith("could not report running to github: ")
    assert "answered 401" in lines[0]
    assert lines[1].startswith("could not report running to gitea: cannot reach")
    assert all("tok" not in line for line in lines)


@pytest.fixture
def worker_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    assert settings.redis_url
    monkeypatch.setenv("PUSHDOCK_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("PUSHDOCK_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("PUSHDOCK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PUSHDOCK_RESOLVER_LISTEN", settings.resolver_listen)
    monkeypatch.setenv("PUSHDOCK_PUBLIC_URL", BASE)
    monkeypatch.setenv("SHOP_SECRET", "s")
    monkeypatch.setenv("SHOP_STATUS_TOKEN", "tok")
    return settings


def write_project(settings: Settings, server: RecordingServer) -> None:
    # The repo URL points at the recording server too: the checkout fails at once, without
    # any network, and the run ends "failed".
    project_file(settings.config_dir, "shop", f"{server.url}/acme/shop.git",
                 secret_var="SHOP_SECRET", forge="gitea",
                 extra=f"status_token: ${{SHOP_STATUS_TOKEN}}\nstatus_api: {server.url}/api/v1\n")


def test_the_jobs_report_pending_running_and_the_result(worker_env: Settings, store: Store,
                                                        docker_client) -> None:
    with RecordingServer() as server:
        write_project(worker_env, server)
        run_id = a_run(store)
        jobs.report_queued(run_id, "shop")
        result = jobs.execute_run(run_id, "shop")
    assert result == RunStatus.FAILED.value
    statuses = [(r["body"]["state"], r["body"]["description"]) for r in server.requests
                if r["path"].startswith("/api/v1/repos/acme/shop/statuses/")]
    assert statuses == [("pending", "Pushdock: queued"), ("pending", "Pushdock: running"),
                        ("failure", "Pushdock: failed")]
    assert all(r["headers"]["authorization"] == "token tok" for r in server.requests
               if r["path"].startswith("/api/"))


def test_pending_is_not_reported_once_the_run_started(worker_env: Settings,
                                                      store: Store) -> None:
    with RecordingServer() as server:
        write_project(worker_env, server)
        run_id = a_run(store)
        store.runs.start(run_id)
        jobs.report_queued(run_id, "shop")
    assert server.requests == []


def test_the_webhook_queues_the_pending_report_ahead_of_the_run(
        worker_env: Settings, redis_url: str) -> None:
    with RecordingServer() as server:
        project_file(worker_env.config_dir, "shop", "https://gitea.example.com/acme/shop.git",
                     secret_var="SHOP_SECRET", forge="gitea",
                     extra=f"status_token: ${{SHOP_STATUS_TOKEN}}\nstatus_api: {server.url}\n")
        client = create_app(replace(worker_env, public_url=BASE)).test_client()
        body, headers = forge_fixture("gitea", "push", "s")
        response = client.post("/hooks/shop", data=body, headers=headers)
        assert response.status_code == 202
        assert server.requests == []  # the webhook's answer never waits on the forge
    queue = Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url))
    assert [job.func_name for job in queue.jobs] == ["workers.jobs.report_queued",
                                                     "workers.jobs.execute_run"]


def test_a_passing_pull_request_run_links_to_its_preview(store: Store) -> None:
    from pipeline.model import PullRequest
    from pipeline.previews import Preview
    from pipeline.status_report import preview_link

    run = replace(store.runs.get(a_run(store)), pr=PullRequest(number=9))
    assert preview_link(store, "shop", run, https=True) is None  # no preview yet
    store.previews.put(Preview(project="shop", number=9, host="pr-9.shop.test", sha=SHA,
                               run=run.id, created=1.0, pushed=1.0))
    link = preview_link(store, "shop", run, https=True)
    assert link == "https://pr-9.shop.test/"
    assert preview_link(store, "shop", replace(run, id="0"), https=True) is None  # not its run
    with RecordingServer() as server:
        project = make_project("github", server.url)
        assert report(store, project, run.id, SHA, CommitState.RUNNING, BASE, preview=link)
        assert report(store, project, run.id, SHA, CommitState.SUCCESS, BASE, preview=link)
    running, passed = server.requests
    assert running["body"]["target_url"] == f"{BASE}/runs/{run.id}"
    assert passed["body"]["target_url"] == link
    assert passed["body"]["description"] == f"Pushdock: passed; preview at {link}"
    store.previews.remove("shop", 9)

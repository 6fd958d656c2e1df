"""The JSON API and the status pages: every endpoint, its errors, and the auth rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import redis
from rq import Queue

from pipeline.model import Color, Deployment, LiveApp, PushEvent, RunStatus, StageName
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import free_port, project_file
from webhooks.app import create_app
from workers.queue import QUEUE_NAME

TOKEN = "t0ken-for-tests"
SHA = "f" * 40


def make_client(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                **changes: object):
    monkeypatch.setenv("API_SECRET", "hook")
    project_file(settings.config_dir, "shop", tmp_path / "repo", secret_var="API_SECRET",
                 host="shop.test")
    app = create_app(replace(settings, public_url="https://ci.test", **changes))
    return app.test_client()


@pytest.fixture
def client(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    return make_client(settings, tmp_path, monkeypatch, token=TOKEN)


@pytest.fixture
def runs(store: Store) -> list[str]:
    first = store.runs.create(PushEvent(project="shop", branch="main", sha=SHA,
                                       message="First", author="dev"),
                             stages=(StageName.CHECKOUT, StageName.BUILD))
    store.runs.start(first.id)
    store.logs.append(first.id, "\x1b[32mgreen\x1b[0m text", stage="build")
    store.runs.finish(first.id, RunStatus.SUCCESS)
    second = store.runs.create(PushEvent(project="shop", branch="main", sha="e" * 40,
                                        message="Second"))
    store.live.set(LiveApp(project="shop", color=Color.BLUE, sha=SHA, run=first.id,
                           container="pushdock-shop-blue", upstream="10.0.0.2:8000"))
    store.deployments.record(Deployment(project="shop", sha=SHA, run=first.id,
                                       color=Color.BLUE, image=f"shop:{SHA}", trigger="push",
                                       started=1.0, finished=2.0, result="live"))
    return [first.id, second.id]


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_read_endpoints(client, runs: list[str]) -> None:
    projects = client.get("/api/projects").json
    assert [p["name"] for p in projects] == ["shop"]
    assert projects[0]["live"]["sha"] == SHA and projects[0]["last_run"]["id"] == runs[1]

    page = client.get("/api/projects/shop/runs?limit=1").json
    assert page["total"] == 2 and [r["id"] for r in page["runs"]] == [runs[1]]
    assert client.get("/api/projects/shop/runs?limit=1&offset=1").json["runs"][0]["id"] == runs[0]

    run = client.get(f"/api/runs/{runs[0]}").json
    assert run["status"] == "success" and run["url"] == f"https://ci.test/runs/{runs[0]}"
    assert [s["name"] for s in run["stages"]] == ["checkout", "build"]

    log = client.get(f"/api/runs/{runs[0]}/log")
    assert log.mimetype == "text/plain" and log.get_data(as_text=True) == "green text\n"

    deployments = client.get("/api/projects/shop/deployments").json
    assert deployments["live"]["color"] == "blue"
    assert deployments["deployments"][0]["result"] == "live"


def test_not_found(client, runs: list[str]) -> None:
    for path in ("/api/runs/999", "/api/runs/abc", "/api/runs/999/log", "/api/projects/nope/runs",
                 "/api/projects/nope/deployments", "/projects/nope", "/runs/999"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/runs/999").json == {"error": "not found"}


def test_sse_log_stream_resumes(client, store: Store, runs: list[str]) -> None:
    response = client.get(f"/api/runs/{runs[0]}/log", headers={"Accept": "text/event-stream"})
    assert response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert "event: line" in body and 'ansi-fg-green' in body
    assert "event: status" in body and body.rstrip().endswith('data: {"status": "success"}')
    entry = store.logs.read(runs[0])[0].id
    again = client.get(f"/api/runs/{runs[0]}/log",
                       headers={"Accept": "text/event-stream", "Last-Event-ID": entry})
    assert "event: line" not in again.get_data(as_text=True)


def test_write_actions_need_the_token(client, runs: list[str], redis_url: str) -> None:
    assert client.post(f"/api/runs/{runs[1]}/cancel").status_code == 401
    wrong = client.post(f"/api/runs/{runs[1]}/cancel", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    done = client.post(f"/api/runs/{runs[1]}/cancel", headers=AUTH)
    assert done.status_code == 202 and done.json["status"] == "cancelled"
    again = client.post(f"/api/runs/{runs[1]}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already finished" in again.json["error"]

    rerun = client.post(f"/api/runs/{runs[0]}/rerun", headers=AUTH)
    assert rerun.status_code == 202
    assert rerun.json["sha"] == SHA and rerun.json["trigger"] == f"rerun of #{runs[0]}"
    assert len(Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url))) == 1
    assert client.post("/api/runs/999/rerun", headers=AUTH).status_code == 404


def test_without_a_token_write_actions_are_off(settings: Settings, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               runs: list[str]) -> None:
    client = make_client(settings, tmp_path, monkeypatch)
    response = client.post(f"/api/runs/{runs[1]}/cancel", headers=AUTH)
    assert response.status_code == 403 and "PUSHDOCK_TOKEN" in response.json["error"]
    assert "Cancel" not in client.get(f"/runs/{runs[1]}").get_data(as_text=True)
    assert client.get("/login").status_code == 403


def test_browser_login_and_csrf(client, runs: list[str], store: Store) -> None:
    page = client.get(f"/runs/{runs[1]}").get_data(as_text=True)
    assert 'id="cancel"' not in page  # not logged in: no buttons
    assert client.post(f"/runs/{runs[1]}/cancel").status_code == 401
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    logged_in = client.post("/login?next=/runs/1", data={"token": TOKEN})
    assert logged_in.headers["Location"] == "/runs/1"
    page = client.get(f"/runs/{runs[1]}").get_data(as_text=True)
    assert 'id="cancel"' in page
    assert client.post(f"/runs/{runs[1]}/cancel", data={"csrf": "forged"}).status_code == 403
    with client.session_transaction() as session:
        csrf = session["csrf"]
    done = client.post(f"/runs/{runs[1]}/cancel", data={"csrf": csrf})
    assert done.status_code == 303
    assert store.runs.get(runs[1]).status is RunStatus.CANCELLED  # type: ignore[union-attr]
    client.post("/logout", data={"csrf": csrf})
    assert 'id="rerun"' not in client.get(f"/runs/{runs[0]}").get_data(as_text=True)


def test_private_mode(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      runs: list[str]) -> None:
    client = make_client(settings, tmp_path, monkeypatch, token=TOKEN, private=True)
    assert client.get("/api/projects").status_code == 401
    assert client.get("/").status_code == 302
    assert client.get("/api/projects", headers=AUTH).status_code == 200
    assert client.get("/healthz").status_code == 200
    # webhooks stay open: forges sign them and never hold the token
    for path in ("/hooks/shop", "/hooks"):
        answer = client.post(path, data=b"{}", headers={"X-GitHub-Event": "push"})
        assert answer.status_code == 401 and "signature" in answer.json["error"].lower(), path
    client.post("/login", data={"token": TOKEN})
    assert client.get("/").status_code == 200


def test_pages_escape_everything(client, store: Store) -> None:
    run = store.runs.create(PushEvent(project="shop", branch="main", sha=SHA,
                                     message="<script>alert(1)</script>", author="<b>x</b>"))
    store.logs.append(run.id, "<img src=x onerror=alert(2)>", stage="test")
    for path in ("/", "/projects/shop", f"/runs/{run.id}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html, path
    assert "&lt;img src=x onerror=alert(2)&gt;" in client.get(f"/runs/{run.id}").get_data(
        as_text=True)
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp


def test_pages_and_badge(client, runs: list[str]) -> None:
    dashboard = client.get("/").get_data(as_text=True)
    assert "shop" in dashboard and SHA[:7] in dashboard and "No worker is running" in dashboard
    assert 'id="no-resolver"' not in dashboard  # the session's resolver answers
    project = client.get("/projects/shop").get_data(as_text=True)
    assert "<svg" in project and "First" in project and "deployments" in project
    badge = client.get("/badge/shop.svg")
    assert badge.mimetype == "image/svg+xml" and "queued" in badge.get_data(as_text=True)
    assert ">no runs</text>" in client.get("/badge/none.svg").get_data(as_text=True)


def test_deploy_and_rollback_are_queued(client, runs: list[str], redis_url: str) -> None:
    queue = Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url))
    assert client.post("/api/projects/shop/rollback").status_code == 401
    assert client.post("/api/projects/nope/rollback", headers=AUTH).status_code == 404
    bad = client.post("/api/projects/shop/deploy", json={"sha": "--evil"}, headers=AUTH)
    assert bad.status_code == 400
    rolled = client.post("/api/projects/shop/rollback", json={"to": SHA[:8]}, headers=AUTH)
    assert rolled.status_code == 202 and rolled.json["to"] == SHA[:8]
    deployed = client.post("/api/projects/shop/deploy", json={"sha": SHA}, headers=AUTH)
    assert deployed.status_code == 202
    jobs = {job.func_name: job.args for job in queue.jobs}
    assert jobs["workers.deploys.execute_rollback"] == ("shop", SHA[:8])
    assert jobs["workers.deploys.execute_deploy"] == ("shop", SHA, "api")

    # the project page's buttons, with a login and its CSRF token
    assert 'id="rollback"' not in client.get("/projects/shop").get_data(as_text=True)
    client.post("/login", data={"token": TOKEN})
    assert 'id="rollback"' in client.get("/projects/shop").get_data(as_text=True)
    with client.session_transaction() as session:
        csrf = session["csrf"]
    assert client.post("/projects/shop/rollback", data={"csrf": "x"}).status_code == 403
    bad_form = client.post("/projects/shop/deploy", data={"csrf": csrf, "sha": "--evil"})
    assert bad_form.status_code == 400
    done = client.post("/projects/shop/rollback", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["Location"].endswith("queued=rollback")
    assert len(queue.jobs) == 3


def test_dashboard_warns_when_the_resolver_does_not_answer(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"127.0.0.1:{free_port()}"
    client = make_client(settings, tmp_path, monkeypatch, resolver=f"udp/{address}")
    dashboard = client.get("/").get_data(as_text=True)
    assert 'id="no-resolver"' in dashboard and address in dashboard
    off = make_client(settings, tmp_path, monkeypatch, resolver=None)
    assert 'id="no-resolver"' not in off.get("/").get_data(as_text=True)


def test_a_pull_requests_run_shows_its_pull_request(client, store: Store) -> None:
    from pipeline.model import PullRequest

    pr = PullRequest(7, title="<i>Add</i> a wish list", source_branch="feature/wishlist",
                     fork=True, ref="refs/pull/7/head")
    run = store.runs.create(PushEvent(project="shop", branch=pr.key, sha=SHA, pr=pr),
                            trigger="pull_request")
    assert client.get(f"/api/runs/{run.id}").json["pr"] == {
        "number": 7, "title": "<i>Add</i> a wish list", "source_branch": "feature/wishlist",
        "fork": True, "ref": "refs/pull/7/head"}
    assert client.get(f"/api/runs/{runs_of_push(store)}").json["pr"] is None
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "pull request <b>#7</b>" in page and "&lt;i&gt;Add&lt;/i&gt; a wish list" in page
    assert 'id="fork">from a fork: no secrets' in page
    listing = client.get("/projects/shop").get_data(as_text=True)
    assert "PR #7</span>" in listing and "feature/wishlist · fork" in listing


def runs_of_push(store: Store) -> str:
    return store.runs.create(PushEvent(project="shop", branch="main", sha=SHA)).id

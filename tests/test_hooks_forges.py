"""POST /hooks/<project> and POST /hooks for every forge, with a real Redis: each answer,
and that only a 202 queues anything. Each recorded webhook's answer is written beside it
(tests/forge_cases.py); the tests below it change a payload, a header or a project."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis
from rq import Queue

from pipeline.settings import Settings
from pipeline.store import Store
from tests.forge_cases import ForgeCase, forge_cases
from tests.support import forge_fixture, free_port, project_file, sign_for
from webhooks.app import create_app
from workers.queue import QUEUE_NAME

A = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
B = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
SECRET = "forge-secret"
FORGES = ["github", "gitlab", "gitea", "bitbucket", "generic"]
# The project of each forge, named after it, with the repository its fixtures name.
REPOS = {
    "github": "https://github.com/acme/shop.git",
    "gitlab": "https://gitlab.example.com/acme/shop.git",
    "gitea": "https://gitea.example.com/acme/shop.git",
    "bitbucket": "git@bitbucket.org:acme/shop.git",
    "generic": "/srv/git/shop.git",
}


PULL_REQUESTS = "pull_requests:\n  forks: approve\n"


def write_projects(settings: Settings, extra: str = PULL_REQUESTS) -> None:
    for forge, repo in REPOS.items():
        project_file(settings.config_dir, forge, repo, secret_var="FORGE_SECRET", forge=forge,
                     extra=extra)


@pytest.fixture
def app_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FORGE_SECRET", SECRET)
    write_projects(settings)
    return replace(settings, public_url="https://ci.example.com")


@pytest.fixture
def client(app_settings: Settings):
    return create_app(app_settings).test_client()


def queued(redis_url: str) -> int:
    return len(Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url)))


# How to reach the pushed branch and the head commit's message in each forge's payload.
def _branch_setter(forge: str) -> Callable[[dict[str, Any], str], None]:
    def top(payload: dict[str, Any], branch: str) -> None:
        payload["ref"] = f"refs/heads/{branch}"

    def bitbucket(payload: dict[str, Any], branch: str) -> None:
        payload["push"]["changes"][0]["new"]["name"] = branch

    return bitbucket if forge == "bitbucket" else top


def _message_setter(forge: str) -> Callable[[dict[str, Any], str], None]:
    def set_message(payload: dict[str, Any], message: str) -> None:
        if forge in ("github", "gitea"):
            payload["head_commit"]["message"] = message
        elif forge == "gitlab":
            payload["commits"][-1]["message"] = message
        elif forge == "bitbucket":
            payload["push"]["changes"][0]["new"]["target"]["message"] = message
        else:
            payload["message"] = message

    return set_message


def post(client, forge: str, name: str = "push", *, path: str | None = None,
         secret: str = SECRET, **kwargs: Any):
    body, headers = forge_fixture(forge, name, secret, **kwargs)
    return client.post(path or f"/hooks/{forge}", data=body, headers=headers)


@pytest.mark.parametrize("case", forge_cases(), ids=str)
def test_a_recorded_webhook_gets_its_expected_answer(client, case: ForgeCase, store: Store,
                                                     redis_url: str) -> None:
    response = post(client, case.forge, case.name)
    assert (response.status_code, response.json) == (case.answer.status, case.answer.json)
    # A 202 queues a run of each push event, in their order; any other answer queues none.
    pushes = case.pushes(case.forge) if response.status_code == 202 else []
    runs = [store.runs.get(run_id) for run_id in response.json.get("runs", [])]
    assert None not in runs
    assert [(run.project, run.branch, run.sha, run.message, run.pr) for run in runs if run] == [
        (push.project, push.branch, push.sha, push.message, push.pr) for push in pushes]
    # A fork's pull request waits for a person: its run is recorded and nothing is queued.
    waits = [push for push in pushes if push.pr is not None and push.pr.fork]
    assert [run.status.value for run in runs if run and run.pr and run.pr.fork] == [
        "waiting"] * len(waits)
    assert queued(redis_url) == len(pushes) - len(waits)


@pytest.mark.parametrize("forge", FORGES)
def test_a_repeated_delivery_runs_once(client, forge: str, redis_url: str) -> None:
    assert post(client, forge, delivery="same").status_code == 202
    again = post(client, forge, delivery="same")
    assert again.status_code == 200 and again.json == {"ignored": "duplicate delivery"}
    assert post(client, forge, delivery="other").status_code == 202
    assert queued(redis_url) == 2


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_is_ignored_unless_the_project_takes_tags(client, app_settings: Settings,
                                                        forge: str, store: Store,
                                                        redis_url: str) -> None:
    response = post(client, forge, "tag")
    assert response.status_code == 200 and response.json == {"ignored": "tag"}
    assert queued(redis_url) == 0
    write_projects(app_settings, extra="tags: true\n")
    response = post(client, forge, "tag")
    assert response.status_code == 202
    run = store.runs.get(response.json["run"])
    assert run is not None and (run.branch, run.sha) == ("refs/tags/v1.0.0", A)


@pytest.mark.parametrize("forge", FORGES)
def test_another_branch_is_ignored(client, forge: str, redis_url: str) -> None:
    setter = _branch_setter(forge)
    response = post(client, forge, edit=lambda payload: setter(payload, "develop"))
    assert response.status_code == 200
    assert response.json == {"ignored": "branch develop is not built (main, feature/*)"}
    response = post(client, forge, edit=lambda payload: setter(payload, "feature/login"))
    assert response.status_code == 202
    assert queued(redis_url) == 1


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize("marker", ["[skip ci]", "[CI SKIP]"])
def test_skip_ci_is_ignored(client, forge: str, marker: str, redis_url: str) -> None:
    setter = _message_setter(forge)
    response = post(client, forge, edit=lambda payload: setter(payload, f"Typo {marker}"))
    assert response.status_code == 200
    assert response.json == {"ignored": "[skip ci] in the commit message"}
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_a_wrong_or_missing_signature_is_401(client, forge: str, redis_url: str,
                                             store: Store) -> None:
    response = post(client, forge, secret="not the secret")
    assert response.status_code == 401 and "does not match" in response.json["error"]
    body, headers = forge_fixture(forge, "push", SECRET)
    for name in sign_for(forge, SECRET, body):
        del headers[name]
    response = client.post(f"/hooks/{forge}", data=body, headers=headers)
    assert response.status_code == 401 and "missing" in response.json["error"]
    assert queued(redis_url) == 0 and store.runs.list() == []


@pytest.mark.parametrize("forge", FORGES)
def test_a_signed_malformed_body_is_400(client, forge: str, redis_url: str) -> None:
    _, headers = forge_fixture(forge, "push", SECRET)
    for body in (b"{not json", b'{"ref": 1}', b'{"push": {"changes": 3}}'):
        headers.update(sign_for(forge, SECRET, body))
        response = client.post(f"/hooks/{forge}", data=body, headers=headers)
        assert response.status_code == 400, (body, response.json)
    bad_sha = post(client, forge, edit=lambda p: _set_sha(forge, p, "not-a-sha; rm -rf /"))
    assert bad_sha.status_code == 400 and "is not a commit sha" in bad_sha.json["error"]
    assert queued(redis_url) == 0


def _set_sha(forge: str, payload: dict[str, Any], sha: str) -> None:
    if forge == "bitbucket":
        payload["push"]["changes"][0]["new"]["target"]["hash"] = sha
    else:
        payload["after"] = sha
        if forge == "gitlab":
            payload["checkout_sha"] = sha


@pytest.mark.parametrize("forge", FORGES)
def test_an_unknown_project_is_404(client, forge: str, redis_url: str) -> None:
    assert post(client, forge, path="/hooks/nope").status_code == 404
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_another_forges_webhook_is_400(client, forge: str, redis_url: str) -> None:
    other = "gitlab" if forge == "github" else "github"
    response = post(client, forge, path=f"/hooks/{other}")
    assert response.status_code == 400
    assert f"takes {other} webhooks, this is" in response.json["error"]
    body, headers = forge_fixture(forge, "push", SECRET)
    for name in ("X-GitHub-Event", "X-Gitlab-Event", "X-Gitea-Event", "X-Event-Key",
                 "X-Pushdock-Event"):
        headers.pop(name, None)
    assert client.post(f"/hooks/{forge}", data=body, headers=headers).status_code == 400
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_a_body_over_the_limit_is_413(app_settings: Settings, forge: str,
                                      redis_url: str) -> None:
    client = create_app(replace(app_settings, max_body=2048)).test_client()
    large = post(client, forge, edit=lambda payload: payload.update(padding="x" * 2048))
    assert large.status_code == 413 and "PUSHDOCK_MAX_BODY" in large.json["error"]
    assert post(client, forge, path="/hooks",
                edit=lambda payload: payload.update(padding="x" * 2048)).status_code == 413
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_redis_down_is_503(app_settings: Settings, forge: str) -> None:
    app = create_app(replace(app_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    response = post(app.test_client(), forge)
    assert response.status_code == 503 and "nothing was queued" in response.json["error"]


def test_an_invalid_project_file_is_503_so_the_forge_redelivers(
        client, app_settings: Settings) -> None:
    (app_settings.config_dir / "github.yml").write_text("project: github\nrepo: [\n")
    response = post(client, "github")
    assert response.status_code == 503 and "invalid" in response.json["error"]


def test_bitbucket_queues_one_run_per_changed_branch(client, store: Store,
                                                     redis_url: str) -> None:
    response = post(client, "bitbucket", "two_branches")
    assert response.status_code == 202
    assert response.json["runs"] == ["1", "2"] and response.json["run"] == "1"
    runs = [store.runs.get(run_id) for run_id in response.json["runs"]]
    assert [(run.branch, run.sha) for run in runs if run] == [("main", A), ("feature/login", B)]
    again = post(client, "bitbucket", "two_branches")
    assert again.json == {"ignored": "duplicate delivery"}
    assert queued(redis_url) == 2


# -- organisation-wide: POST /hooks ----------------------------------------------------------
@pytest.mark.parametrize("forge", FORGES)
def test_an_organisation_hook_finds_the_project_by_repository(client, forge: str,
                                                              store: Store) -> None:
    response = post(client, forge, path="/hooks")
    assert response.status_code == 202, response.json
    run = store.runs.get(response.json["run"])
    assert run is not None and run.project == forge and run.sha == A


@pytest.mark.parametrize("forge", FORGES)
def test_an_organisation_hook_for_an_unknown_repository_is_404(client, forge: str,
                                                               redis_url: str) -> None:
    def elsewhere(payload: dict[str, Any]) -> None:
        if forge == "generic":
            payload["repository"] = "/srv/git/other.git"
        elif forge == "gitlab":
            payload["project"] = {"path_with_namespace": "acme/other"}
            payload["repository"] = {}
        else:
            payload["repository"] = {"full_name": "acme/other"}

    response = post(client, forge, path="/hooks", edit=elsewhere)
    assert response.status_code == 404 and "no project for this repository" in (
        response.json["error"])
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_an_organisation_hook_needs_a_projects_secret(client, forge: str,
                                                      redis_url: str) -> None:
    response = post(client, forge, path="/hooks", secret="not the secret")
    assert response.status_code == 401
    assert queued(redis_url) == 0


def test_an_organisation_hook_checks_the_secret_of_the_matching_project(
        client, app_settings: Settings, monkeypatch: pytest.MonkeyPatch, store: Store,
        redis_url: str) -> None:
    # A second GitHub project with its own secret: signing with it must not reach `github`.
    monkeypatch.setenv("OTHER_SECRET", "other")
    project_file(app_settings.config_dir, "admin", "https://github.com/acme/admin.git",
                 secret_var="OTHER_SECRET")
    assert post(client, "github", path="/hooks", secret="other").status_code == 404

    def admin(payload: dict[str, Any]) -> None:
        payload["repository"] = {"full_name": "acme/admin",
                                 "clone_url": "https://evil.example/acme/admin.git"}

    response = post(client, "github", path="/hooks", secret="other", edit=admin)
    assert response.status_code == 202
    run = store.runs.get(response.json["run"])
    assert run is not None and run.project == "admin"
    assert post(client, "github", path="/hooks", secret=SECRET, edit=admin).status_code == 404
    assert queued(redis_url) == 1


def test_organisation_hook_ping_and_unclaimed_forge(client, app_settings: Settings,
                                                    redis_url: str) -> None:
    response = post(client, "github", "ping", path="/hooks")
    assert response.status_code == 200 and response.json == {"ignored": "ping"}
    (app_settings.config_dir / "gitlab.yml").unlink()
    response = post(client, "gitlab", path="/hooks")
    assert response.status_code == 404 and "no project takes gitlab" in response.json["error"]
    response = client.post("/hooks", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert queued(redis_url) == 0

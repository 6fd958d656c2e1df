"""POST /hooks/<project> through Flask with a real Redis: every answer, and what gets queued."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from rq import Queue

from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import github_push, project_file, sign
from webhooks.app import create_app
from workers.queue import QUEUE_NAME

SECRET = "hook-secret"
SHA = "c" * 40


@pytest.fixture
def client(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    project_file(settings.config_dir, "shop", tmp_path / "repo", secret_var="SHOP_SECRET",
                 host="shop.test")
    app = create_app(replace(settings, public_url="https://ci.example.com"))
    return app.test_client()


def queued(redis_url: str) -> int:
    return len(Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url)))


def post(client, body: bytes, headers: dict[str, str], project: str = "shop"):
    return client.post(f"/hooks/{project}", data=body, headers=headers)


def test_a_signed_push_is_queued(client, store: Store, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA, message="Add cart", delivery="d-1")
    response = post(client, body, headers)
    assert response.status_code == 202
    assert response.json == {"run": "1", "url": "https://ci.example.com/runs/1",
                             "runs": ["1"]}
    run = store.runs.get("1")
    assert run is not None
    assert (run.project, run.branch, run.sha, run.message, run.status.value) == (
        "shop", "main", SHA, "Add cart", "queued")
    job = Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url)).jobs[0]
    assert job.func_name == "workers.jobs.execute_run" and job.args == ("1", "shop")


def test_the_same_delivery_runs_once(client, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA, delivery="same")
    assert post(client, body, headers).status_code == 202
    again = post(client, body, headers)
    assert again.status_code == 200 and again.json == {"ignored": "duplicate delivery"}
    assert queued(redis_url) == 1


def test_unknown_project(client, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA)
    assert post(client, body, headers, project="nope").status_code == 404
    assert post(client, body, headers, project="..%2Fetc").status_code == 404
    assert queued(redis_url) == 0


def test_bad_or_missing_signature(client, redis_url: str, store: Store) -> None:
    body, headers = github_push("wrong secret", SHA)
    response = post(client, body, headers)
    assert response.status_code == 401 and "does not match" in response.json["error"]
    del headers["X-Hub-Signature-256"]
    assert post(client, body, headers).status_code == 401
    assert queued(redis_url) == 0 and store.runs.list() == []


def test_malformed_json_is_400_after_the_signature(client, redis_url: str) -> None:
    _, headers = github_push(SECRET, SHA)
    body = b"{not json"
    headers["X-Hub-Signature-256"] = sign(SECRET, body)
    response = post(client, body, headers)
    assert response.status_code == 400 and response.json["error"] == "body is not JSON"
    assert queued(redis_url) == 0


def test_no_forge_header_or_wrong_forge(client, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA)
    del headers["X-GitHub-Event"]
    assert post(client, body, headers).status_code == 400
    response = post(client, body, {**headers, "X-Gitlab-Event": "Push Hook"})
    assert response.status_code == 400 and "takes github webhooks" in response.json["error"]
    assert queued(redis_url) == 0


@pytest.mark.parametrize(("change", "reason"), [
    ({"branch": "develop"}, "branch develop is not built (main, feature/*)"),
    ({"message": "Typo [skip ci]"}, "[skip ci] in the commit message"),
    ({"message": "Docs [CI SKIP]"}, "[skip ci] in the commit message"),
])
def test_ignored_pushes(client, redis_url: str, change: dict, reason: str) -> None:
    body, headers = github_push(SECRET, SHA, **change)
    response = post(client, body, headers)
    assert response.status_code == 200 and response.json == {"ignored": reason}
    assert queued(redis_url) == 0


def test_feature_branches_match_the_glob(client, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA, branch="feature/login")
    assert post(client, body, headers).status_code == 202


def test_ping_tag_and_deletion(client, redis_url: str) -> None:
    body, headers = github_push(SECRET, SHA)
    zen = b'{"zen": "hi"}'
    ping = post(client, zen, {**headers, "X-GitHub-Event": "ping",
                              "X-Hub-Signature-256": sign(SECRET, zen)})
    assert ping.status_code == 200 and ping.json == {"ignored": "ping"}
    payload = json.loads(body)
    for change, reason in (({"ref": "refs/tags/v1"}, "tag"),
                           ({"deleted": True, "after": "0" * 40}, "branch deletion")):
        changed = json.dumps({**payload, **change}).encode()
        response = post(client, changed, {**headers, "X-Hub-Signature-256": sign(SECRET, changed)})
        assert response.json == {"ignored": reason}
    assert queued(redis_url) == 0


def test_oversized_body(client, redis_url: str) -> None:
    _, headers = github_push(SECRET, SHA)
    response = post(client, b"x" * (25 * 1024 * 1024 + 1), headers)
    assert response.status_code == 413
    assert queued(redis_url) == 0


def test_redis_down_is_503(settings: Settings, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import free_port

    monkeypatch.setenv("SHOP_SECRET", SECRET)
    project_file(settings.config_dir, "shop", tmp_path / "repo", secret_var="SHOP_SECRET")
    app = create_app(replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    body, headers = github_push(SECRET, SHA)
    response = app.test_client().post("/hooks/shop", data=body, headers=headers)
    assert response.status_code == 503 and "nothing was queued" in response.json["error"]


def test_status_pages(client, store: Store) -> None:
    body, headers = github_push(SECRET, SHA, message="Add cart")
    post(client, body, headers)
    store.logs.append("1", "building shop", stage="build")
    index = client.get("/").get_data(as_text=True)
    assert "shop" in index and SHA[:7] in index and "Add cart" in index and "queued" in index
    page = client.get("/runs/1").get_data(as_text=True)
    assert "building shop" in page and "checkout" in page
    assert client.get("/runs/99").status_code == 404
    assert client.get("/healthz").json == {"ok": True}

"""Property-based: whatever headers and body arrive, for every forge, the web service answers
without a 500, and queues nothing unless the body is validly signed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rq import Queue

from pipeline.model import SHA
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import FIXTURES, project_file, sign_for
from webhooks.app import create_app
from workers.queue import QUEUE_NAME

SECRET = "forge-secret"
FORGES = ["github", "gitlab", "gitea", "bitbucket", "generic"]
REPOS = {
    "github": "https://github.com/acme/shop.git",
    "gitlab": "https://gitlab.example.com/acme/shop.git",
    "gitea": "https://gitea.example.com/acme/shop.git",
    "bitbucket": "https://bitbucket.org/acme/shop.git",
    "generic": "/srv/git/shop.git",
}
EVENT_HEADERS = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event",
                 "gitea": "X-Gitea-Event", "bitbucket": "X-Event-Key",
                 "generic": "X-Pushdock-Event"}
PUSH_EVENTS = {"github": "push", "gitlab": "Push Hook", "gitea": "push", "bitbucket": "repo:push",
               "generic": "push"}
EVENTS = ["push", "ping", "Push Hook", "Tag Push Hook", "repo:push", "diagnostics:ping",
          "delete", "create", "issues"]
OTHER_HEADERS = ["X-Hub-Signature-256", "X-Hub-Signature", "X-Gitlab-Token", "X-Gitea-Signature",
                 "X-Forgejo-Signature", "X-Pushdock-Signature", "X-GitHub-Delivery",
                 "Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitea-Delivery", "X-Request-UUID",
                 "X-Pushdock-Delivery", "Content-Type", "Content-Length", *EVENT_HEADERS.values()]
ANSWERS = {200, 202, 400, 401, 404, 413}

# Header values travel as latin-1 text without line breaks.
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)
FIXTURE_BODIES = {forge: [json.loads(path.read_text())["body"]
                          for path in sorted((FIXTURES / forge).glob("*.json"))]
                  for forge in FORGES}
FIXTURE_HEADERS = {forge: [json.loads(path.read_text())["headers"]
                           for path in sorted((FIXTURES / forge).glob("*.json"))]
                   for forge in FORGES}


@st.composite
def mutated_fixture(draw: st.DrawFn, forge: str) -> bytes:
    """A payload as the forge sends it, with a few values anywhere in it replaced."""
    payload = json.loads(json.dumps(draw(st.sampled_from(FIXTURE_BODIES[forge]))))
    for _ in range(draw(st.integers(0, 4))):
        node: Any = payload
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                       else list(range(len(node)))))
            if not isinstance(node[key], dict | list) or not node[key]:
                node[key] = draw(json_values)
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                node[draw(st.text(max_size=8))] = draw(json_values)
    return json.dumps(payload).encode()


def bodies(forge: str) -> st.SearchStrategy[bytes]:
    # Mostly near-real payloads: they reach deeper into the parsers than random bytes do.
    return st.one_of(st.binary(max_size=300),
                     json_values.map(lambda value: json.dumps(value).encode()),
                     mutated_fixture(forge), mutated_fixture(forge))


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    forge = draw(st.sampled_from(FORGES))
    path = draw(st.sampled_from([f"/hooks/{forge}", "/hooks", "/hooks/github"]))
    body = draw(bodies(forge))
    headers = draw(st.dictionaries(st.sampled_from(OTHER_HEADERS), header_text, max_size=6))
    headers.pop("Content-Length", None)  # the test client sets the true one
    if draw(st.integers(0, 3)):
        headers[EVENT_HEADERS[forge]] = draw(
            st.just(PUSH_EVENTS[forge]) | st.sampled_from(EVENTS) | header_text)
    return forge, path, body, headers


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FORGE_SECRET", SECRET)
    for forge, repo in REPOS.items():
        project_file(settings.config_dir, forge, repo, secret_var="FORGE_SECRET", forge=forge,
                     extra="tags: true\n")
    return create_app(replace(settings, max_body=12_000)).test_client()


def queued(redis_url: str) -> int:
    return len(Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url)))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_without_a_valid_signature_nothing_is_queued(client, redis_url: str,
                                                     request: tuple) -> None:
    _, path, body, headers = request
    if headers.get("X-Gitlab-Token") == SECRET:
        headers["X-Gitlab-Token"] += "x"
    response = client.post(path, data=body, headers=headers)
    event(f"answer {response.status_code}")
    assert response.status_code in ANSWERS - {202}, (response.status_code, response.json)
    assert queued(redis_url) == 0


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_signed_bodies_never_break_the_service(client, redis_url: str, store: Store,
                                               request: tuple) -> None:
    forge, path, body, headers = request
    headers.update(sign_for(forge, SECRET, body))
    before = queued(redis_url)
    response = client.post(path, data=body, headers=headers)
    event(f"answer {response.status_code}")
    assert response.status_code in ANSWERS, (response.status_code, response.json)
    assert isinstance(response.json, dict)
    if response.status_code != 202:
        assert queued(redis_url) == before
        return
    assert queued(redis_url) == before + len(response.json["runs"])
    for run_id in response.json["runs"]:
        run = store.runs.get(run_id)
        assert run is not None and SHA.match(run.sha) and run.project == forge


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_signed_real_payloads_with_changed_fields(client, redis_url: str, store: Store,
                                                  data: st.DataObject) -> None:
    forge = data.draw(st.sampled_from(FORGES))
    body = data.draw(mutated_fixture(forge))
    headers = {**data.draw(st.sampled_from(FIXTURE_HEADERS[forge])),
               **sign_for(forge, SECRET, body)}
    path = data.draw(st.sampled_from([f"/hooks/{forge}", "/hooks"]))
    before = queued(redis_url)
    response = client.post(path, data=body, headers=headers)
    event(f"answer {response.status_code}")
    assert response.status_code in ANSWERS, (response.status_code, response.json)
    runs = response.json.get("runs", []) if response.status_code == 202 else []
    assert queued(redis_url) == before + len(runs)
    for run_id in runs:
        run = store.runs.get(run_id)
        assert run is not None and SHA.match(run.sha) and run.project == forge

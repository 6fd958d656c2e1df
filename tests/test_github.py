from __future__ import annotations

import json

import pytest

from pipeline.model import Forge
from tests.support import github_push
from webhooks.errors import BadSignature, MalformedPayload
from webhooks.forges import Ignored, detect_forge, github

SHA = "a" * 40


def test_a_signed_push_is_verified_and_parsed() -> None:
    body, headers = github_push("hush", SHA, message="Fix it", delivery="d1")
    github.verify(headers, body, "hush")
    [event] = github.parse(headers, body, "shop")
    assert not isinstance(event, Ignored)
    assert (event.project, event.branch, event.sha, event.message, event.author) == (
        "shop", "main", SHA, "Fix it", "dev")
    assert event.forge is Forge.GITHUB and event.delivery_id == "d1"


def test_signature_must_match_the_secret_and_the_bytes() -> None:
    body, headers = github_push("hush", SHA)
    with pytest.raises(BadSignature):
        github.verify(headers, body, "other secret")
    with pytest.raises(BadSignature):
        github.verify(headers, body + b" ", "hush")
    with pytest.raises(BadSignature, match="missing"):
        github.verify({k: v for k, v in headers.items() if "Signature" not in k}, body, "hush")
    with pytest.raises(BadSignature):
        github.verify({**headers, "X-Hub-Signature-256": "sha1=" + "0" * 40}, body, "hush")


def with_payload(change: dict) -> tuple[bytes, dict[str, str]]:
    body, headers = github_push("hush", SHA)
    payload = {**json.loads(body), **change}
    return json.dumps(payload).encode(), headers


def test_ignored_pushes() -> None:
    body, headers = with_payload({"deleted": True, "after": "0" * 40})
    assert github.parse(headers, body, "shop") == [Ignored("branch deletion")]
    body, headers = github_push("hush", SHA)
    assert github.parse({**headers, "X-GitHub-Event": "ping"}, b"{}", "shop") == [
        Ignored("ping")]


def test_a_tag_is_an_event_whose_branch_is_the_full_ref() -> None:
    # Whether tags run is the project's choice (tags: true), made in webhooks/hooks.py.
    body, headers = with_payload({"ref": "refs/tags/v1.0"})
    [event] = github.parse(headers, body, "shop")
    assert not isinstance(event, Ignored)
    assert event.is_tag and event.branch == "refs/tags/v1.0" and event.sha == SHA


def test_malformed_bodies() -> None:
    _, headers = github_push("hush", SHA)
    for body in (b"not json", b"[1, 2]", b'{"ref": "refs/heads/main"}', b"\xff\xfe"):
        with pytest.raises(MalformedPayload):
            github.parse(headers, body, "shop")


def test_forge_detection() -> None:
    assert detect_forge({"X-GitHub-Event": "push"}) is Forge.GITHUB
    assert detect_forge({"X-GitHub-Event": "push", "X-Gitea-Event": "push"}) is Forge.GITEA
    assert detect_forge({"X-Gitlab-Event": "Push Hook"}) is Forge.GITLAB
    assert detect_forge({"X-Event-Key": "repo:push"}) is Forge.BITBUCKET
    assert detect_forge({"Content-Type": "application/json"}) is None

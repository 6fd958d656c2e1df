"""Every forge's verify and parse, on payloads shaped as each forge documents them: each
recorded webhook against the results written beside it (tests/forge_cases.py), then the
rules the recordings do not show."""

from __future__ import annotations

import pytest

from pipeline.model import Forge, PushEvent
from tests.forge_cases import ForgeCase, expected, forge_cases, recorded
from tests.support import forge_fixture, sign_for
from webhooks.errors import BadSignature, MalformedPayload
from webhooks.forges import ForgeAdapter, Ignored, detect_forge, forge_adapter

A = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
SECRET = "s3cret"
FORGES = ["github", "gitlab", "gitea", "bitbucket", "generic"]


def parse(forge: str, name: str, **kwargs) -> list[PushEvent | Ignored]:
    body, headers = forge_fixture(forge, name, SECRET, **kwargs)
    adapter = forge_adapter(Forge(forge))
    adapter.verify(headers, body, SECRET)
    return adapter.parse(headers, body, "shop")


@pytest.mark.parametrize("case", forge_cases(), ids=str)
def test_a_recorded_webhook_gives_its_expected_events(case: ForgeCase) -> None:
    assert parse(case.forge, case.name) == case.events("shop")
    body, _ = forge_fixture(case.forge, case.name, SECRET)
    assert set(forge_adapter(Forge(case.forge)).repositories(body)) == case.repositories


def test_every_recorded_webhook_has_its_expected_results() -> None:
    assert expected() == recorded()


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_push_names_the_tagged_commit(forge: str) -> None:
    [event] = parse(forge, "tag")
    assert isinstance(event, PushEvent)
    assert event.is_tag and event.branch == "refs/tags/v1.0.0" and event.sha == A


def test_forgejo_is_gitea() -> None:
    body, headers = forge_fixture("gitea", "forgejo_push", SECRET)
    assert detect_forge(headers) is Forge.GITEA
    headers.pop("X-Gitea-Signature")
    forge_adapter(Forge.GITEA).verify(headers, body, SECRET)  # X-Forgejo-Signature alone


def test_gitlab_system_hooks_carry_pushes() -> None:
    body, headers = forge_fixture("gitlab", "push", SECRET)
    headers["X-Gitlab-Event"] = "System Hook"
    [event] = forge_adapter(Forge.GITLAB).parse(headers, body, "shop")
    assert isinstance(event, PushEvent) and event.sha == A
    body = b'{"event_name": "project_create", "name": "shop"}'
    assert forge_adapter(Forge.GITLAB).parse(headers, body, "shop") == [
        Ignored("system hook event 'project_create' is not a push")]


def test_gitlab_delivery_falls_back_to_the_event_uuid() -> None:
    _, headers = forge_fixture("gitlab", "push", SECRET)
    del headers["Idempotency-Key"]
    assert forge_adapter(Forge.GITLAB).delivery_id(headers) == headers["X-Gitlab-Event-UUID"]


@pytest.mark.parametrize("forge", FORGES)
def test_signature_must_match_the_secret_and_the_bytes(forge: str) -> None:
    adapter = forge_adapter(Forge(forge))
    body, headers = forge_fixture(forge, "push", SECRET)
    with pytest.raises(BadSignature):
        adapter.verify(headers, body, "another secret")
    if forge != "gitlab":  # GitLab's token does not cover the body
        with pytest.raises(BadSignature):
            adapter.verify(headers, body + b" ", SECRET)
    unsigned = {k: v for k, v in headers.items() if k not in sign_for(forge, SECRET, body)}
    with pytest.raises(BadSignature, match="missing"):
        adapter.verify(unsigned, body, SECRET)


@pytest.mark.parametrize("forge", ["github", "bitbucket", "generic"])
def test_only_sha256_signatures(forge: str) -> None:
    adapter = forge_adapter(Forge(forge))
    body, headers = forge_fixture(forge, "push", SECRET)
    for name, value in sign_for(forge, SECRET, body).items():
        headers[name] = value.replace("sha256=", "sha1=")
    with pytest.raises(BadSignature):
        adapter.verify(headers, body, SECRET)


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"ref": "refs/heads/main"}',
                                  b"\xff\xfe", b"[" * 100_000])
def test_malformed_bodies(forge: str, body: bytes) -> None:
    _, headers = forge_fixture(forge, "push", SECRET)
    with pytest.raises(MalformedPayload):
        forge_adapter(Forge(forge)).parse(headers, body, "shop")


def test_other_events_are_ignored() -> None:
    body, headers = forge_fixture("github", "push", SECRET)
    adapter = forge_adapter(Forge.GITHUB)
    assert adapter.parse({**headers, "X-GitHub-Event": "issues"}, body, "shop") == [
        Ignored("event 'issues' is not a push")]
    body, headers = forge_fixture("gitlab", "push", SECRET)
    assert forge_adapter(Forge.GITLAB).parse(
        {**headers, "X-Gitlab-Event": "Note Hook"}, body, "shop") == [
        Ignored("event 'Note Hook' is not a push")]


def test_forge_detection() -> None:
    assert detect_forge({"X-GitHub-Event": "push"}) is Forge.GITHUB
    assert detect_forge({"X-GitHub-Event": "push", "X-Gitea-Event": "push"}) is Forge.GITEA
    assert detect_forge({"X-Forgejo-Event": "push"}) is Forge.GITEA
    assert detect_forge({"X-Gitlab-Event": "Push Hook"}) is Forge.GITLAB
    assert detect_forge({"X-Event-Key": "repo:push"}) is Forge.BITBUCKET
    assert detect_forge({"X-Pushdock-Event": "push"}) is Forge.GENERIC
    assert detect_forge({"Content-Type": "application/json"}) is None


@pytest.mark.parametrize("forge", FORGES)
def test_every_forge_module_is_an_adapter(forge: str) -> None:
    assert isinstance(forge_adapter(Forge(forge)), ForgeAdapter)

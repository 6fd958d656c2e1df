"""Every forge's verify and parse, on payloads shaped as each forge documents them."""

from __future__ import annotations

import pytest

from pipeline.model import Forge, PushEvent
from tests.support import forge_fixture, sign_for
from webhooks.errors import BadSignature, MalformedPayload
from webhooks.forges import ForgeAdapter, Ignored, detect_forge, forge_adapter

A = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
B = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
SECRET = "s3cret"
FORGES = ["github", "gitlab", "gitea", "bitbucket", "generic"]


def parse(forge: str, name: str, **kwargs) -> list[PushEvent | Ignored]:
    body, headers = forge_fixture(forge, name, SECRET, **kwargs)
    adapter = forge_adapter(Forge(forge))
    adapter.verify(headers, body, SECRET)
    return adapter.parse(headers, body, "shop")


@pytest.mark.parametrize(("forge", "message", "author", "delivery"), [
    ("github", "Add the cart", "octocat", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ("gitlab", "Add the cart\n\nWith a test.", "jsmith", "f4b2b3e1-1b2c3d4e5f60"),
    ("gitea", "Add the cart", "gitea", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
    ("bitbucket", "Add the cart\n", "Emma", "8f3a3c8e-5a8b-4f6b-9f0c-2f2b1e7c4a01"),
    ("generic", "Add the cart", "Dev", "1f0c5e2a9b7d4c3e"),
])
def test_a_push_to_a_branch(forge: str, message: str, author: str, delivery: str) -> None:
    assert parse(forge, "push") == [PushEvent(
        project="shop", branch="main", sha=A, before=B, message=message, author=author,
        forge=Forge(forge), delivery_id=delivery, ref="refs/heads/main")]


@pytest.mark.parametrize("forge", FORGES)
def test_a_forced_push_is_a_push(forge: str) -> None:
    [event] = parse(forge, "forced")
    assert isinstance(event, PushEvent) and event.sha == A and event.branch == "main"
    assert "Rewrite the cart" in event.message


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_push_names_the_tagged_commit(forge: str) -> None:
    [event] = parse(forge, "tag")
    assert isinstance(event, PushEvent)
    assert event.is_tag and event.branch == "refs/tags/v1.0.0" and event.sha == A


@pytest.mark.parametrize("forge", FORGES)
def test_a_branch_deletion_is_ignored(forge: str) -> None:
    assert parse(forge, "delete") == [Ignored("branch deletion")]


@pytest.mark.parametrize("forge", ["github", "bitbucket", "generic"])
def test_ping(forge: str) -> None:
    assert parse(forge, "ping") == [Ignored("ping")]


def test_gitea_delete_event_and_pushes_without_head_commit() -> None:
    assert parse("gitea", "delete_event") == [Ignored("branch deletion")]
    [event] = parse("gitea", "push_without_head_commit")
    assert isinstance(event, PushEvent) and event.message == "Add the cart"


def test_forgejo_is_gitea() -> None:
    body, headers = forge_fixture("gitea", "forgejo_push", SECRET)
    assert detect_forge(headers) is Forge.GITEA
    [event] = parse("gitea", "forgejo_push")
    assert isinstance(event, PushEvent) and event.delivery_id.startswith("0b7a1f7c")
    headers.pop("X-Gitea-Signature")
    forge_adapter(Forge.GITEA).verify(headers, body, SECRET)  # X-Forgejo-Signature alone


def test_gitlab_tag_push_hook_uses_checkout_sha() -> None:
    [event] = parse("gitlab", "tag")
    assert isinstance(event, PushEvent) and event.sha == A and event.author == "jsmith"


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
    assert forge_adapter(Forge.GITLAB).delivery_id(headers).startswith("2d5c8a1e")


def test_bitbucket_sends_one_event_per_changed_branch() -> None:
    events = parse("bitbucket", "two_branches")
    assert [(e.branch, e.sha) for e in events if isinstance(e, PushEvent)] == [
        ("main", A), ("feature/login", B)]


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


@pytest.mark.parametrize(("forge", "repositories"), [
    ("github", {"acme/shop", "https://github.com/acme/shop.git"}),
    ("gitlab", {"acme/shop", "https://gitlab.example.com/acme/shop.git"}),
    ("gitea", {"acme/shop", "https://gitea.example.com/acme/shop.git"}),
    ("bitbucket", {"acme/shop", "https://bitbucket.org/acme/shop"}),
    ("generic", {"/srv/git/shop.git"}),
])
def test_repositories_named_by_the_payload(forge: str, repositories: set[str]) -> None:
    body, _ = forge_fixture(forge, "push", SECRET)
    assert repositories <= set(forge_adapter(Forge(forge)).repositories(body))


def test_other_events_are_ignored() -> None:
    body, headers = forge_fixture("github", "push", SECRET)
    adapter = forge_adapter(Forge.GITHUB)
    assert adapter.parse({**headers, "X-GitHub-Event": "issues"}, body, "shop") == [
        Ignored("event 'issues' is not a push")]
    body, headers = forge_fixture("gitlab", "push", SECRET)
    assert forge_adapter(Forge.GITLAB).parse(
        {**headers, "X-Gitlab-Event": "Merge Request Hook"}, body, "shop") == [
        Ignored("event 'Merge Request Hook' is not a push")]


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

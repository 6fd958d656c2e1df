"""GitHub push webhooks: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(secret, raw body)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.model import Forge, PushEvent
from webhooks.forges import Ignored
from webhooks.forges.payload import (
    load_object,
    mapping,
    not_a_push,
    ref_and_after,
    ref_event,
    text,
    texts,
)
from webhooks.forges.signing import verify_prefixed


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    verify_prefixed(headers, body, secret, "X-Hub-Signature-256")


def delivery_id(headers: Mapping[str, str]) -> str:
    return headers.get("X-GitHub-Delivery", "")


def repositories(body: bytes) -> tuple[str, ...]:
    repo = mapping(load_object(body), "repository")
    return texts(text(repo, "full_name"), text(repo, "clone_url"), text(repo, "html_url"),
                 text(repo, "ssh_url"), text(repo, "git_url"))


def parse(headers: Mapping[str, str], body: bytes, project: str) -> list[PushEvent | Ignored]:
    event = headers.get("X-GitHub-Event", "")
    ignored = not_a_push(event, push="push", ping="ping")
    if ignored is not None:
        return ignored
    payload = load_object(body)
    ref, after = ref_and_after(payload)
    head = mapping(payload, "head_commit")
    author = mapping(head, "author")
    sha = after
    if ref.startswith("refs/tags/") and text(head, "id"):
        sha = text(head, "id")  # an annotated tag's "after" is the tag object, not a commit
    return [ref_event(
        project=project, ref=ref, sha=sha, before=text(payload, "before"),
        message=text(head, "message"),
        author=(text(author, "username") or text(author, "name")
                or text(mapping(payload, "pusher"), "name")),
        forge=Forge.GITHUB, delivery_id=delivery_id(headers),
        deleted=payload.get("deleted") is True)]

"""Gitea and Forgejo push and pull_request webhooks: X-Gitea-Signature (or X-Forgejo-Signature)
is the bare hex HMAC-SHA256 of the raw body; the payload is shaped like GitHub's. A pull
request's head is fetched from the project's repository as refs/pull/N/head, which Gitea
keeps for forks' pull requests too."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.model import Forge, PullRequestClosed, PushEvent
from webhooks.errors import BadSignature
from webhooks.forges import Ignored
from webhooks.forges.payload import (
    items,
    load_object,
    mapping,
    ref_and_after,
    ref_event,
    repository_id,
    text,
    texts,
)
from webhooks.forges.pull_requests import Delivery, github_shaped
from webhooks.forges.signing import hmac_sha256, matches

SIGNATURE_HEADERS = ("X-Forgejo-Signature", "X-Gitea-Signature")


def _header(headers: Mapping[str, str], suffix: str) -> str:
    # Forgejo sends its own headers and, for compatibility, Gitea's: either is the same value.
    return headers.get(f"X-Forgejo-{suffix}", "") or headers.get(f"X-Gitea-{suffix}", "")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    signature = _header(headers, "Signature")
    if not signature:
        raise BadSignature("missing X-Gitea-Signature (or X-Forgejo-Signature) header")
    if not matches(hmac_sha256(secret, body), signature):
        raise BadSignature("X-Gitea-Signature does not match the project's webhook secret")


def delivery_id(headers: Mapping[str, str]) -> str:
    return _header(headers, "Delivery")


def repositories(body: bytes) -> tuple[str, ...]:
    repo = mapping(load_object(body), "repository")
    return texts(text(repo, "full_name"), text(repo, "clone_url"), text(repo, "html_url"),
                 text(repo, "ssh_url"))


# X-Gitea-Event names new commits "pull_request_sync" in some versions, "pull_request" with
# the action "synchronized" in others: the action decides.
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_sync")
RUN_ACTIONS = ("opened", "synchronized", "reopened")


def _repository_id(branch: Mapping[str, object]) -> str:
    return repository_id(branch, "repo_id") or repository_id(mapping(branch, "repo"), "id")


def parse(headers: Mapping[str, str], body: bytes,
          project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
    event = _header(headers, "Event")
    if event in PULL_REQUEST_EVENTS:
        delivery = Delivery(project, Forge.GITEA, delivery_id(headers))
        return [github_shaped(load_object(body), delivery, run_actions=RUN_ACTIONS,
                              repository_of=_repository_id)]
    if event == "delete":
        payload = load_object(body)
        kind = "tag" if text(payload, "ref_type") == "tag" else "branch"
        return [Ignored(f"{kind} deletion")]
    if event != "push":
        return [Ignored(f"event {event!r} is not a push")]
    payload = load_object(body)
    ref, after = ref_and_after(payload)
    # Older Gitea versions send no head_commit: the head is the commit whose id is "after".
    head = mapping(payload, "head_commit") or next(
        (c for c in items(payload, "commits") if text(c, "id") == after), {})
    author = mapping(head, "author")
    pusher = mapping(payload, "pusher")
    return [ref_event(
        project=project, ref=ref, sha=after, before=text(payload, "before"),
        message=text(head, "message"),
        author=(text(author, "username") or text(author, "name") or text(pusher, "username")
                or text(pusher, "login")),
        forge=Forge.GITEA, delivery_id=delivery_id(headers))]

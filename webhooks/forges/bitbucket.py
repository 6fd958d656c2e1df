"""Bitbucket Cloud push and pull request webhooks: X-Hub-Signature = "sha256=" +
HMAC-SHA256(secret, raw body).

One repo:push may change several branches and tags: each change is its own event.

A pull request's head is its source branch, fetched from the project's repository: Bitbucket
keeps no ref of a fork's commits in the repository pulled into, so a fork's pull request is
ignored. Its payload names the head commit by an abbreviated hash; the run resolves it
against the source branch once fetched (and fails when the branch moved on meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config_rules import check_fetched_ref
from pipeline.model import Forge, PullRequestClosed, PushEvent
from webhooks.errors import MalformedPayload
from webhooks.forges import Ignored
from webhooks.forges.payload import (
    items,
    load_object,
    mapping,
    not_a_push,
    number,
    ref_event,
    text,
    texts,
)
from webhooks.forges.pull_requests import Delivery, PullRequestItem, action_ignored, pull_request
from webhooks.forges.signing import verify_prefixed

_REF_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/"}


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    verify_prefixed(headers, body, secret, "X-Hub-Signature")


def delivery_id(headers: Mapping[str, str]) -> str:
    # X-Request-UUID names one event and is kept across retries (X-Attempt-Number counts
    # them). X-Hook-UUID names the webhook itself, the same for every event, so deduplicating
    # on it would drop every push after the first.
    return headers.get("X-Request-UUID", "")


def repositories(body: bytes) -> tuple[str, ...]:
    repo = mapping(load_object(body), "repository")
    return texts(text(repo, "full_name"), text(mapping(mapping(repo, "links"), "html"), "href"))


def _change(change: Mapping[str, object], project: str, actor: str,
            delivery: str) -> PushEvent | Ignored:
    new, old = mapping(change, "new"), mapping(change, "old")
    if not new:
        kind = text(old, "type")
        return Ignored(f"{kind if kind in _REF_PREFIX else 'branch'} deletion")
    kind, name = text(new, "type"), text(new, "name")
    if kind not in _REF_PREFIX:
        return Ignored(f"a {kind or 'ref'} push is not a branch")
    if not name:
        raise MalformedPayload("push change has no name")
    target = mapping(new, "target")
    author = mapping(target, "author")
    return ref_event(
        project=project, ref=_REF_PREFIX[kind] + name, sha=text(target, "hash"),
        before=text(mapping(old, "target"), "hash"), message=text(target, "message"),
        author=(text(mapping(author, "user"), "display_name") or text(author, "raw") or actor),
        forge=Forge.BITBUCKET, delivery_id=delivery)


PULL_REQUEST_PREFIX = "pullrequest:"
FORK_HAS_NO_REF = ("pull request from a fork: Bitbucket keeps no ref of a fork's commits in "
                   "the project's repository")


def _pull_request(event: str, payload: Mapping[str, object],
                  delivery: Delivery) -> PullRequestItem:
    action = event.removeprefix(PULL_REQUEST_PREFIX)
    if action not in ("created", "updated", "fulfilled", "rejected"):
        return action_ignored(action)
    pr = mapping(payload, "pullrequest")
    source, destination = mapping(pr, "source"), mapping(pr, "destination")
    branch = text(mapping(source, "branch"), "name")
    about = pull_request(number(pr, "id"), title=text(pr, "title"), source_branch=branch,
                         head_repository=text(mapping(source, "repository"), "uuid"),
                         base_repository=text(mapping(destination, "repository"), "uuid"),
                         ref=f"refs/heads/{branch}")
    if action in ("fulfilled", "rejected"):
        return delivery.closed(about, merged=action == "fulfilled")
    if about.fork:
        return Ignored(FORK_HAS_NO_REF)
    if not check_fetched_ref(about.ref):
        return Ignored(f"source branch {branch[:100]!r} is not a plain branch name")
    actor = mapping(payload, "actor")
    return delivery.opened(about, sha=text(mapping(source, "commit"), "hash"),
                           author=text(actor, "display_name") or text(actor, "nickname"))


def parse(headers: Mapping[str, str], body: bytes,
          project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
    event = headers.get("X-Event-Key", "")
    if event.startswith(PULL_REQUEST_PREFIX):
        return [_pull_request(event, load_object(body),
                              Delivery(project, Forge.BITBUCKET, delivery_id(headers)))]
    # diagnostics:ping is Bitbucket Data Center's "Test connection"
    ignored = not_a_push(event, push="repo:push", ping="diagnostics:ping")
    if ignored is not None:
        return ignored
    payload = load_object(body)
    push = payload.get("push")
    if not isinstance(push, dict) or not isinstance(push.get("changes"), list):
        raise MalformedPayload("repo:push payload has no push.changes")
    changes = items(push, "changes")
    if not changes:
        return [Ignored("push changed no ref")]
    actor = mapping(payload, "actor")
    who = text(actor, "display_name") or text(actor, "nickname")
    return [_change(change, project, who, delivery_id(headers)) for change in changes]

"""GitLab push and merge request webhooks: X-Gitlab-Token carries the secret itself (no
HMAC), compared in constant time; "Push Hook", "Tag Push Hook" and "Merge Request Hook"
events. A merge request's head is fetched from the project's repository as
refs/merge-requests/N/head, which GitLab keeps for forks' merge requests too."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from pipeline.model import Forge, PullRequestClosed, PushEvent
from webhooks.errors import BadSignature
from webhooks.forges import Ignored
from webhooks.forges.payload import (
    items,
    load_object,
    mapping,
    number,
    ref_and_after,
    ref_event,
    repository_id,
    text,
    texts,
)
from webhooks.forges.pull_requests import Delivery, PullRequestItem, action_ignored, pull_request

PUSH_EVENTS = ("Push Hook", "Tag Push Hook")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    token = headers.get("X-Gitlab-Token", "")
    if not token:
        raise BadSignature("missing X-Gitlab-Token header")
    if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"),
                               secret.encode("utf-8", "surrogateescape")):
        raise BadSignature("X-Gitlab-Token does not match the project's webhook secret")


def delivery_id(headers: Mapping[str, str]) -> str:
    # Idempotency-Key (GitLab 17.4+) stays the same when GitLab retries; the event UUID is
    # the older form.
    return headers.get("Idempotency-Key", "") or headers.get("X-Gitlab-Event-UUID", "")


def repositories(body: bytes) -> tuple[str, ...]:
    payload = load_object(body)
    project, repo = mapping(payload, "project"), mapping(payload, "repository")
    return texts(text(project, "path_with_namespace"), text(project, "git_http_url"),
                 text(project, "git_ssh_url"), text(project, "web_url"),
                 text(repo, "git_http_url"), text(repo, "git_ssh_url"), text(repo, "homepage"))


MERGE_REQUEST_EVENT = "Merge Request Hook"


def _merge_request(payload: Mapping[str, object], delivery: Delivery) -> PullRequestItem:
    attributes = mapping(payload, "object_attributes")
    action = text(attributes, "action")
    if action not in ("open", "reopen", "update", "close", "merge"):
        return action_ignored(action)
    # An update with new commits carries the previous head as oldrev; an edit of the title,
    # labels or assignees carries none.
    if action == "update" and not text(attributes, "oldrev"):
        return Ignored("merge request updated without new commits")
    iid = number(attributes, "iid")
    about = pull_request(iid, title=text(attributes, "title"),
                         source_branch=text(attributes, "source_branch"),
                         head_repository=repository_id(attributes, "source_project_id"),
                         base_repository=repository_id(attributes, "target_project_id"),
                         ref=f"refs/merge-requests/{iid}/head")
    if action in ("close", "merge"):
        return delivery.closed(about, merged=action == "merge")
    head = mapping(attributes, "last_commit")
    user = mapping(payload, "user")
    return delivery.opened(about, sha=text(head, "id"), message=text(head, "message"),
                           author=text(user, "username") or text(user, "name"))


def parse(headers: Mapping[str, str], body: bytes,
          project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
    event = headers.get("X-Gitlab-Event", "")
    if event == MERGE_REQUEST_EVENT:
        return [_merge_request(load_object(body),
                               Delivery(project, Forge.GITLAB, delivery_id(headers)))]
    if event not in (*PUSH_EVENTS, "System Hook"):
        return [Ignored(f"event {event!r} is not a push")]
    payload = load_object(body)
    # An instance's system hook sends every project's pushes as "System Hook" events.
    if event == "System Hook" and text(payload, "event_name") not in ("push", "tag_push"):
        return [Ignored(f"system hook event {text(payload, 'event_name')!r} is not a push")]
    ref, after = ref_and_after(payload)
    # checkout_sha is the commit a tag points to (after is the tag object for annotated tags).
    sha = text(payload, "checkout_sha") or after
    if after == "0" * 40:
        sha = after
    head = next((c for c in items(payload, "commits") if text(c, "id") == after), {})
    return [ref_event(
        project=project, ref=ref, sha=sha, before=text(payload, "before"),
        message=text(head, "message") or text(payload, "message"),
        author=text(payload, "user_username") or text(payload, "user_name"),
        forge=Forge.GITLAB, delivery_id=delivery_id(headers))]

"""GitHub push and pull_request webhooks: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(secret,
raw body). A pull request's head is fetched from the project's repository as refs/pull/N/head,
which GitHub keeps for forks' pull requests too."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.model import Forge, PullRequestClosed, PushEvent
from webhooks.forges import Ignored
from webhooks.forges.payload import (
    load_object,
    mapping,
    not_a_push,
    ref_and_after,
    ref_event,
    repository_id,
    text,
    texts,
)
from webhooks.forges.pull_requests import Delivery, github_shaped
from webhooks.forges.signing import verify_prefixed


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    verify_prefixed(headers, body, secret, "X-Hub-Signature-256")


def delivery_id(headers: Mapping[str, str]) -> str:
    return headers.get("X-GitHub-Delivery", "")


def repositories(body: bytes) -> tuple[str, ...]:
    repo = mapping(load_object(body), "repository")
    return texts(text(repo, "full_name"), text(repo, "clone_url"), text(repo, "html_url"),
                 text(repo, "ssh_url"), text(repo, "git_url"))


RUN_ACTIONS = ("opened", "synchronize", "reopened")


def _repository_id(branch: Mapping[str, object]) -> str:
    return repository_id(mapping(branch, "repo"), "id")


def parse(headers: Mapping[str, str], body: bytes,
          project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
    event = headers.get("X-GitHub-Event", "")
    if event == "pull_request":
        delivery = Delivery(project, Forge.GITHUB, delivery_id(headers))
        return [github_shaped(load_object(body), delivery, run_actions=RUN_ACTIONS,
                              repository_of=_repository_id)]
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

"""Pull request events, normalised from any forge: opened or updated (a run of the head
commit, fetched from the project's own repository), closed (nothing runs), or ignored.

A pull request comes from a fork when its head repository's id is not its base repository's:
ids, never names (a fork may be renamed to anything) nor the author's association with the
repository (which says who someone is, not where the code comes from). A payload that names
no head repository (a fork deleted since) counts as a fork."""

from __future__ import annotations

from pipeline.model import Forge, PullRequest, PullRequestClosed, PushEvent
from webhooks.errors import MalformedPayload
from webhooks.forges import Ignored

TITLE_LIMIT = 200  # the pages show it; the forge's limit is its own, not ours

PullRequestItem = PushEvent | PullRequestClosed | Ignored


def is_fork(head_repository: str, base_repository: str) -> bool:
    return not head_repository or head_repository != base_repository


def pull_request(number: int | None, *, title: str, source_branch: str, fork: bool,
                 ref: str) -> PullRequest:
    if number is None or number < 1:
        raise MalformedPayload("pull request payload has no number")
    return PullRequest(number=number, title=title[:TITLE_LIMIT], source_branch=source_branch,
                       fork=fork, ref=ref)


def opened(pr: PullRequest, *, project: str, sha: str, forge: Forge, delivery_id: str,
           author: str = "", message: str = "") -> PushEvent:
    """A pull request opened, reopened or given new commits: a run of its head commit."""
    if not sha:
        raise MalformedPayload(f"pull request #{pr.number} names no head commit")
    return PushEvent(project=project, branch=pr.key, sha=sha.lower(), message=message or pr.title,
                     author=author, forge=forge, delivery_id=delivery_id, ref=pr.ref, pr=pr)


def closed(pr: PullRequest, *, project: str, merged: bool, forge: Forge,
           delivery_id: str) -> PullRequestClosed:
    return PullRequestClosed(project=project, pr=pr, merged=merged, forge=forge,
                             delivery_id=delivery_id)


def action_ignored(action: str) -> Ignored:
    return Ignored(f"pull request action {action or 'none'!r} runs nothing")

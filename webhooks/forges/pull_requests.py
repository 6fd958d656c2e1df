"""Pull request events, normalised from any forge: opened or updated (a run of the head
commit, fetched from the project's own repository), closed (nothing runs), or ignored.

A pull request comes from a fork when its head repository's id is not its base repository's:
ids, never names (a fork may be renamed to anything) nor the author's association with the
repository (which says who someone is, not where the code comes from). A payload that names
no head repository (a fork deleted since) counts as a fork."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.model import Forge, PullRequest, PullRequestClosed, PushEvent
from webhooks.errors import MalformedPayload
from webhooks.forges import Ignored
from webhooks.forges.payload import mapping, number, text

TITLE_LIMIT = 200  # the pages show it; the forge's limit is its own, not ours

PullRequestItem = PushEvent | PullRequestClosed | Ignored


def is_fork(head_repository: str, base_repository: str) -> bool:
    return not head_repository or head_repository != base_repository


def pull_request(n: int | None, *, title: str, source_branch: str, head_repository: str,
                 base_repository: str, ref: str) -> PullRequest:
    if n is None or n < 1:
        raise MalformedPayload("pull request payload has no number")
    return PullRequest(number=n, title=title[:TITLE_LIMIT], source_branch=source_branch,
                       fork=is_fork(head_repository, base_repository), ref=ref)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: the project it came for, from which forge, under which id."""

    project: str
    forge: Forge
    id: str

    def opened(self, pr: PullRequest, *, sha: str, author: str = "",
               message: str = "") -> PushEvent:
        """A pull request opened, reopened or given new commits: a run of its head commit."""
        if not sha:
            raise MalformedPayload(f"pull request #{pr.number} names no head commit")
        return PushEvent(project=self.project, branch=pr.key, sha=sha.lower(),
                         message=message or pr.title, author=author, forge=self.forge,
                         delivery_id=self.id, ref=pr.ref, pr=pr)

    def closed(self, pr: PullRequest, *, merged: bool) -> PullRequestClosed:
        return PullRequestClosed(project=self.project, pr=pr, merged=merged, forge=self.forge,
                                 delivery_id=self.id)


def action_ignored(action: str) -> Ignored:
    return Ignored(f"pull request action {action or 'none'!r} runs nothing")


def github_shaped(payload: Mapping[str, object], delivery: Delivery, *,
                  run_actions: tuple[str, ...],
                  repository_of: Callable[[Mapping[str, object]], str]) -> PullRequestItem:
    """A pull_request event as GitHub shapes it, which Gitea copies: only the actions that
    start a run, and where a branch names its repository's id, differ."""
    action = text(payload, "action")
    if action not in (*run_actions, "closed"):
        return action_ignored(action)
    pr = mapping(payload, "pull_request")
    head, base = mapping(pr, "head"), mapping(pr, "base")
    n = number(payload, "number") or number(pr, "number")
    about = pull_request(n, title=text(pr, "title"), source_branch=text(head, "ref"),
                         head_repository=repository_of(head),
                         base_repository=repository_of(base), ref=f"refs/pull/{n}/head")
    if action == "closed":
        return delivery.closed(about, merged=pr.get("merged") is True)
    return delivery.opened(about, sha=text(head, "sha"), author=text(mapping(pr, "user"), "login"))

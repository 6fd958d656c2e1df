"""Preview apps of pull requests (DESIGN.md §9.4), as data: their hosts, and which go when
the `limit` or the `expire` of `pull_requests.preview` says so (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.config import PreviewSpec, Project
from pipeline.model import Run
from pipeline.names import preview_app

NUMBER = "{number}"  # what `preview.host` holds, filled in with the pull request's number


@dataclass(frozen=True)
class Preview:
    """One live preview: the record `pushdock previews`, the limit and the expiry read."""

    project: str
    number: int
    host: str
    sha: str
    run: str
    created: float  # its first deploy began
    pushed: float  # its newest deploy began: `expire` counts from here

    @property
    def app(self) -> str:
        """The name it is deployed under (never None: a preview is recorded only once its
        name fits)."""
        return preview_app(self.project, self.number) or ""


def preview_host(template: str, number: int) -> str:
    return template.replace(NUMBER, str(number))


def preview_url(host: str, https: bool) -> str:
    """The link to a preview, as the proxy serves it."""
    return f"{'https' if https else 'http'}://{host}/"


FORK_NOT_APPROVED = ("a pull request from a fork gets a preview only once a person approved "
                     "its run: no preview deployed")


def preview_spec(project: Project, run: Run) -> PreviewSpec | None:
    """The preview a run deploys: a pull request's, where the project has previews on; a
    fork's only once a person approved its run (`forks: run` runs it, unvouched for)."""
    pulls = project.pull_requests
    if run.pr is None or pulls is None or no_preview_reason(project, run):
        return None
    return pulls.preview


def no_preview_reason(project: Project, run: Run) -> str | None:
    """Why a pull request's run of a project with previews deploys none."""
    pulls = project.pull_requests
    if run.pr is None or pulls is None or pulls.preview is None or not run.pr.fork:
        return None
    approved = run.approval is not None and run.approval.approved
    return None if approved else FORK_NOT_APPROVED


def over_limit(previews: Iterable[Preview], limit: int, incoming: int) -> list[Preview]:
    """The previews to remove, oldest first, so that pull request `incoming` fits within
    `limit`; none when it has a preview already (a redeploy adds nothing)."""
    live = sorted(previews, key=lambda p: (p.created, p.number))
    if any(p.number == incoming for p in live):
        return []
    excess = len(live) + 1 - limit
    return live[:excess] if excess > 0 else []


def expired(previews: Iterable[Preview], expire: float, now: float) -> list[Preview]:
    """The previews with no push for `expire` seconds, oldest push first."""
    return sorted((p for p in previews if now - p.pushed >= expire),
                  key=lambda p: (p.pushed, p.number))


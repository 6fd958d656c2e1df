"""Notifications: what a run's outcome tells whom (pure), and the one call that sends a
notice to an Apprise URL. Queueing, retries and the run's log are the workers' side
(workers/notify.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.config import NotifyTarget, Project
from pipeline.model import NotifyEvent, Run, RunStatus, StageName, StageStatus

SEND_TIMEOUT = 10.0  # seconds a target may take to connect, and to answer each read

# How each event reads in a notice's title, and the Apprise type that colours it.
_HEADLINES = {
    NotifyEvent.FAILED: ("failed", "failure"),
    NotifyEvent.FIXED: ("fixed", "success"),
    NotifyEvent.DEPLOYED: ("deployed", "success"),
    NotifyEvent.DEPLOY_FAILED: ("deploy failed", "failure"),
    NotifyEvent.WAITING: ("waiting for approval to deploy", "warning"),
    NotifyEvent.BACKUP_FAILED: ("backup failed", "failure"),
}
# Run statuses that say how a branch stands: a cancelled or superseded run says nothing.
_VERDICTS = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.ERROR)


@dataclass(frozen=True)
class Notice:
    """One thing to tell: the event and what it is about. Anything with an event and a
    project can be one (a backup names its accessory in `subject`); a run's fill the rest."""

    event: NotifyEvent
    project: str
    subject: str = ""  # what it is about, when not a run (e.g. "accessory db")
    branch: str = ""
    sha: str = ""
    message: str = ""  # the commit message's first line
    status: str = ""
    reason: str = ""
    link: str = ""
    run: str = ""

    @property
    def title(self) -> str:
        about = self.subject or " ".join(part for part in (self.branch, self.sha[:7]) if part)
        # A wait says what it waits for: a deploy, or a fork's pull request to run at all.
        headline = (self.reason if self.event is NotifyEvent.WAITING and self.reason
                    else _HEADLINES[self.event][0])
        return f"{self.project}: {about} {headline}".replace("  ", " ")

    @property
    def body(self) -> str:
        """The text every target gets; `json://` targets get it as `message` (README)."""
        lines = [("event", self.event.value), ("project", self.project),
                 ("subject", self.subject), ("branch", self.branch), ("commit", self.sha[:7]),
                 ("message", self.message), ("status", self.status),
                 ("reason", self.reason), ("run", self.link)]
        return "\n".join(f"{name}: {value}" for name, value in lines if value)

    @property
    def kind(self) -> str:
        return _HEADLINES[self.event][1]

    def to_job(self) -> dict[str, Any]:
        """Plain values for a queued job: they outlive a change of this class."""
        return {**asdict(self), "event": self.event.value}

    @staticmethod
    def from_job(data: dict[str, Any]) -> Notice:
        known = {name for name in Notice.__dataclass_fields__}
        values = {name: value for name, value in data.items() if name in known}
        return Notice(**{**values, "event": NotifyEvent(data["event"])})


def run_notice(run: Run, event: NotifyEvent, base_url: str) -> Notice:
    return Notice(event=event, project=run.project, branch=run.branch, sha=run.sha,
                  message=run.message.splitlines()[0] if run.message else "",
                  status=run.status.value, reason=run.reason,
                  link=f"{base_url}/runs/{run.id}", run=run.id)


def _stage(run: Run, name: StageName) -> StageStatus | None:
    return next((stage.status for stage in run.stages if stage.name is name), None)


def run_events(run: Run, previous: Run | None) -> tuple[NotifyEvent, ...]:
    """The events of a run that has just finished or started to wait; `previous` is the
    branch's last run before it that passed or failed (None: there is none)."""
    if run.status is RunStatus.WAITING:
        return (NotifyEvent.WAITING,)
    events: list[NotifyEvent] = []
    if run.status is RunStatus.SUCCESS:
        if previous is not None and previous.status is not RunStatus.SUCCESS:
            events.append(NotifyEvent.FIXED)
        if _stage(run, StageName.DEPLOY) is StageStatus.SUCCESS:
            events.append(NotifyEvent.DEPLOYED)
    elif run.status in (RunStatus.FAILED, RunStatus.ERROR):
        events.append(NotifyEvent.FAILED)
        if _stage(run, StageName.DEPLOY) is StageStatus.FAILED:
            events.append(NotifyEvent.DEPLOY_FAILED)
    return tuple(events)


def previous_verdict(run: Run, earlier: Iterable[Run]) -> Run | None:
    """Of `earlier` (a project's runs, newest first), the last one of the run's branch
    before it that passed or failed."""
    for other in earlier:
        if (other.branch == run.branch and other.id != run.id and other.created <= run.created
                and other.status in _VERDICTS):
            return other
    return None


def targets_for(project: Project, event: NotifyEvent) -> list[tuple[int, NotifyTarget]]:
    """The project's targets that listen to `event`, with their place in `notify`."""
    return [(index, target) for index, target in enumerate(project.notify)
            if event.value in target.on]


def target_name(index: int, target: NotifyTarget) -> str:
    """How logs name a target: its place and scheme, never its URL (it may hold secrets)."""
    scheme = target.url.partition("://")[0] or "?"
    return f"notify[{index}] ({scheme})"


def send(url: str, notice: Notice, timeout: float = SEND_TIMEOUT) -> bool:
    """Send one notice; True when the target took it. Never raises for the target's sake."""
    import apprise  # loaded by the workers that send, not by every process that reads config

    # Apprise's own log lines name hosts, paths and tokens of the URL: the worker's log
    # must not hold them. The run's log says what happened, naming the target by place.
    logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return False
    # Apprise's own per-target timeouts; the job around this has one of its own too.
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    sender = apprise.Apprise()
    sender.add(plugin)
    try:
        return bool(sender.notify(body=notice.body, title=notice.title,
                                  body_format=apprise.NotifyFormat.TEXT,
                                  notify_type=apprise.NotifyType(notice.kind)))
    except Exception:  # a plugin's own fault: the target did not take it
        return False

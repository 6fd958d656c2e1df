"""Data of Pushdock's records and events: frozen dataclasses, str Enums for states."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import DeploySpec

# A full commit id: SHA-1, or SHA-256 in repositories that use it.
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
# An abbreviated one, as Bitbucket names a pull request's head: resolved by its checkout.
ABBREVIATED_SHA = re.compile(r"^[0-9a-f]{7,63}$")


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    ERROR = "error"
    WAITING = "waiting"  # for a person's approval; see Approval

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


@dataclass(frozen=True)
class StopRequest:
    """Why a run must end, asked from outside it: a cancel, a supersede, the timeout."""

    status: RunStatus
    reason: str


class Trigger(StrEnum):
    """What started a run or a deploy; the value is what records keep and pages show."""

    PUSH = "push"  # a webhook
    LOCAL = "local"  # `pushdock run`
    MANUAL = "manual"  # `pushdock deploy`
    ROLLBACK = "rollback"
    API = "api"  # POST /api/projects/<name>/deploy
    STATUS_PAGE = "status page"
    RERUN = "rerun"
    SCHEDULE = "schedule"  # a `schedules:` entry of the project file
    PULL_REQUEST = "pull_request"  # a pull request opened or updated

    @staticmethod
    def rerun_of(run_id: str) -> str:
        """The trigger a rerun records: which run it repeats."""
        return f"{Trigger.RERUN.value} of #{run_id}"


class NotifyEvent(StrEnum):
    """What a notification target may ask to be told about (`notify[].on`)."""

    FAILED = "failed"
    FIXED = "fixed"  # the first success after a failure on that branch
    DEPLOYED = "deployed"
    DEPLOY_FAILED = "deploy_failed"
    WAITING = "waiting"  # a run waits for approval
    BACKUP_FAILED = "backup_failed"


class StageName(StrEnum):
    CONFIG = "config"
    CHECKOUT = "checkout"
    BUILD = "build"
    TEST = "test"
    DEPLOY = "deploy"


# The stages of a run from a push, in order.
RUN_STAGES = (StageName.CHECKOUT, StageName.CONFIG, StageName.BUILD, StageName.TEST,
              StageName.DEPLOY)


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


class Color(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        return Color.GREEN if self is Color.BLUE else Color.BLUE


class Forge(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    BITBUCKET = "bitbucket"
    GENERIC = "generic"


class ForkPolicy(StrEnum):
    """What a pull request from a fork does (`pull_requests.forks`); it never gets secrets."""

    APPROVE = "approve"  # it waits until a person approves it
    RUN = "run"  # it runs at once
    IGNORE = "ignore"  # it runs nothing


@dataclass(frozen=True)
class PullRequest:
    """The pull request a run tests: what the pages show, and where its head is fetched."""

    number: int
    title: str = ""
    source_branch: str = ""
    fork: bool = False  # its head repository is not the project's (compared by repository id)
    ref: str = ""  # the ref of the project's own repository that holds its head commit

    @property
    def key(self) -> str:
        """What runs of one pull request share (their `branch`): a newer one supersedes older
        ones of the same pull request only. A full ref, never taken for a branch."""
        return f"refs/pull/{self.number}/head"


@dataclass(frozen=True)
class PushEvent:
    """One push, normalised from any forge's payload."""

    project: str
    branch: str
    sha: str
    before: str = ""
    message: str = ""
    author: str = ""
    forge: Forge = Forge.GENERIC
    delivery_id: str = ""
    ref: str = ""  # the full ref pushed (refs/heads/…, refs/tags/…); empty means the branch
    pr: PullRequest | None = None  # set when a pull request was opened or updated

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


@dataclass(frozen=True)
class PullRequestClosed:
    """A pull request closed or merged: nothing runs; what it left behind is removed."""

    project: str
    pr: PullRequest
    merged: bool = False
    forge: Forge = Forge.GENERIC
    delivery_id: str = ""


@dataclass(frozen=True)
class StageRecord:
    name: StageName
    status: StageStatus = StageStatus.PENDING
    started: float | None = None
    finished: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True)
class Run:
    id: str
    project: str
    branch: str
    sha: str
    message: str = ""
    author: str = ""
    trigger: str = Trigger.PUSH  # a Trigger's value; a rerun's names the run it repeats
    status: RunStatus = RunStatus.QUEUED
    reason: str = ""
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    stages: tuple[StageRecord, ...] = ()
    delivery_id: str = ""
    deploy: bool = True  # False: the run never deploys, whatever its branch (a schedule's)
    approval: Approval | None = None  # set once the run has waited for a person
    pr: PullRequest | None = None  # the pull request it tests (trigger `pull_request`)

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or self.started) - self.started

    @property
    def current_stage(self) -> StageName | None:
        for stage in self.stages:
            if stage.status is StageStatus.RUNNING:
                return stage.name
        return None


# -- approvals ------------------------------------------------------------------------------
class ApprovalNext(StrEnum):
    """What a waiting run does once approved: go on to its deploy, or run from the start (a
    run that may not start unasked, like a fork's)."""

    DEPLOY = "deploy"
    RUN = "run"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # a newer run of the branch was approved


@dataclass(frozen=True)
class Approval:
    """Why a run waits, what approval lets it do next, and who decided it and when."""

    next: ApprovalNext
    reason: str
    since: float
    decision: Decision | None = None
    by: str = ""
    at: float | None = None

    @property
    def approved(self) -> bool:
        return self.decision is Decision.APPROVED


class DeployResult(StrEnum):
    RUNNING = "running"  # recorded when a deploy starts; replaced when it ends
    LIVE = "live"  # switched to and verified through the proxy
    FAILED = "failed"  # never took traffic, or was switched back; the old color kept serving
    INTERRUPTED = "interrupted"  # the worker died mid-way; reconciliation decided what serves


@dataclass(frozen=True)
class Deployment:
    """One attempt to put an image live: the history of a project is a list of these."""

    project: str
    sha: str
    run: str
    color: Color
    image: str
    trigger: str
    started: float
    finished: float | None
    result: DeployResult
    reason: str = ""
    upstream: str = ""
    switched: float | None = None  # when the route was switched to the new color
    host: str = ""
    spec: DeploySpec | None = None  # what it was deployed with, so a rollback can reuse it
    health: tuple[str, ...] = ()  # the health-check log, kept with the record


@dataclass(frozen=True)
class LiveApp:
    """What serves a project now: the record kept beside the containers' labels."""

    project: str
    color: Color
    sha: str
    run: str
    container: str
    upstream: str  # ip:port the proxy dials
    host: str = ""  # the route's host, so a Caddy that lost its config can be given it back

"""Data of Pushdock: frozen dataclasses for records and specs, str Enums for states."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True)
class StopRequest:
    """Why a run must stop (a cancel, a supersede, its timeout) and the status it ends with."""

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

    @staticmethod
    def rerun_of(run_id: str) -> str:
        """The trigger a rerun records: which run it repeats."""
        return f"{Trigger.RERUN.value} of #{run_id}"

    @classmethod
    def of(cls, value: str) -> Trigger | None:
        """The kind of a recorded trigger; None for one this version does not know."""
        if value.startswith(f"{cls.RERUN.value} of #"):
            return cls.RERUN
        return cls(value) if value in {t.value for t in cls} else None


class StageName(StrEnum):
    CONFIG = "config"
    CHECKOUT = "checkout"
    BUILD = "build"
    TEST = "test"
    DEPLOY = "deploy"


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

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    memory: int = 512 * 1024 * 1024  # bytes
    pids: int = 256


@dataclass(frozen=True)
class BuildSpec:
    dockerfile: str = "Dockerfile"
    context: str = "."
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class StepSpec:
    name: str
    run: str
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 600.0  # seconds
    image: str | None = None  # None: the image just built
    workdir: str | None = None  # None: the image's WORKDIR


@dataclass(frozen=True)
class ServiceSpec:
    """A sidecar (a database, say) the steps reach by its name on the run's network."""

    name: str
    image: str
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    ready: str | None = None  # a command polled inside the service until it exits 0
    deadline: float = 60.0  # seconds to become ready


@dataclass(frozen=True)
class TestSpec:
    resources: Resources = field(default_factory=Resources)
    services: tuple[ServiceSpec, ...] = ()
    steps: tuple[StepSpec, ...] = ()


@dataclass(frozen=True)
class HealthSpec:
    path: str = "/healthz"  # "" = a TCP connect to the port instead of an HTTP GET
    interval: float = 1.0
    timeout: float = 5.0
    healthy_after: int = 2
    deadline: float = 60.0


@dataclass(frozen=True)
class DeploySpec:
    port: int = 8000
    health: HealthSpec = field(default_factory=HealthSpec)
    drain: float = 10.0
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    keep: int = 5


@dataclass(frozen=True)
class PipelineSpec:
    build: BuildSpec = field(default_factory=BuildSpec)
    test: TestSpec = field(default_factory=TestSpec)
    deploy: DeploySpec = field(default_factory=DeploySpec)


@dataclass(frozen=True)
class DeployTarget:
    branch: str = "main"
    host: str | None = None


@dataclass(frozen=True)
class Project:
    """A server-side project file: the trusted half of the configuration."""

    name: str
    repo: str
    forge: Forge
    webhook_secret: str
    branches: tuple[str, ...] = ("main",)
    deploy: DeployTarget = field(default_factory=DeployTarget)
    secrets: dict[str, str] = field(default_factory=dict)
    pipeline: PipelineSpec | None = None  # inline pipeline, used when the repo has none
    timeout: float = 3600.0  # a whole run, in seconds
    supersede: bool = True  # a newer push to a branch cancels older runs of that branch
    path: str = ""
    tags: bool = False  # whether pushed tags run the pipeline (they never deploy)
    status_token: str = ""  # forge API token: commit statuses are reported when set
    status_api: str = ""  # the forge API's base URL, when not derived from `repo`


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

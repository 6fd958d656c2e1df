"""The configuration Pushdock reads: the project file (trusted) and the repo's
.pushdock.yml (untrusted). Each key is declared once, here, with its type, default and doc
(see config_keys); parsing, `pushdock check` and the README's tables come from these."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config_keys import (
    BOOLEAN,
    DURATION,
    NUMBER,
    OPTIONAL_STRING,
    SIZE,
    STRING,
    STRING_LIST,
    STRING_MAP,
    integer,
    key,
    list_of,
    map_of,
    mapping_of,
    one_of,
    optional_mapping_of,
    string_or_mapping_of,
)
from pipeline.config_rules import (
    BACKUP_EXTENSION,
    COMMAND,
    COMMAND_LINE,
    CONTAINER_PATH,
    CRON,
    ENV,
    GIT_URL,
    HOST_NAME,
    HTTP_URL,
    IMAGE,
    NOTIFY_EVENTS,
    NOTIFY_URL,
    OPTIONAL_IMAGE,
    POSITIVE_DURATION,
    PROJECT_NAME,
    REPO_PATH,
    SECRET_NAMES,
    STEP_NAME,
    SWITCH,
    TCP_PORT,
    UNSIGNED,
    URL_PATH,
    VOLUMES,
    WEBHOOK_SECRET,
    accessory_name,
    distinct_names,
    process_name,  # apps with more than one container
    service_name,
)
from pipeline.model import Forge


@dataclass(frozen=True)
class Resources:
    cpus: float = field(default=1.0, metadata=key(NUMBER, doc="CPUs a container may use"))
    memory: int = field(default=512 * 1024 * 1024,  # bytes
                        metadata=key(SIZE, doc="memory a container may use, without swap"))
    pids: int = field(default=256, metadata=key(
        integer(minimum=16), doc="processes a container may run at once"))


@dataclass(frozen=True)
class BuildSpec:
    dockerfile: str = field(default="Dockerfile", metadata=key(
        REPO_PATH, doc="the Dockerfile, relative to the context"))
    context: str = field(default=".", metadata=key(
        REPO_PATH, doc="the build context, a directory in the repository"))
    args: dict[str, str] = field(default_factory=dict, metadata=key(
        STRING_MAP, doc="build arguments"))
    target: str | None = field(default=None, metadata=key(
        OPTIONAL_STRING, doc="a stage of a multi-stage Dockerfile to build"))
    secrets: tuple[str, ...] = field(default=(), metadata=key(SECRET_NAMES, doc=(
        "project secrets a `RUN --mount=type=secret,id=NAME` may read; never in the image")))
    timeout: float = field(default=1800.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="the build is stopped after this long, output or not"))


@dataclass(frozen=True)
class StepSpec:
    name: str = field(metadata=key(STEP_NAME, shown="`step-N` (N counts from 1)",
                                   doc="the step's name in the log and on the run page"))
    run: str = field(metadata=key(COMMAND_LINE, required=True,
                                  doc="the shell command, in a container of the image built"))
    env: dict[str, str] = field(default_factory=dict, metadata=key(
        ENV, doc="environment variables of the step"))
    timeout: float = field(default=600.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="the step is killed after this long"))
    image: str | None = field(default=None, metadata=key(  # None: the image just built
        OPTIONAL_IMAGE, doc="another image to run the step in"))
    workdir: str | None = field(default=None, metadata=key(  # None: the image's WORKDIR
        CONTAINER_PATH, doc="the working directory in the container"))


@dataclass(frozen=True)
class ServiceSpec:
    """A sidecar (a database, say) the steps reach by its name on the run's network."""

    name: str  # its key in `test.services`
    image: str = field(metadata=key(IMAGE, required=True,
                                    doc="the service's image"))
    env: dict[str, str] = field(default_factory=dict, metadata=key(
        ENV, doc="environment variables of the service"))
    command: tuple[str, ...] | None = field(default=None, metadata=key(
        COMMAND, doc="replaces the image's command"))
    ready: str | None = field(default=None, metadata=key(
        OPTIONAL_STRING, doc="a command polled inside the service until it exits 0"))
    deadline: float = field(default=60.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="how long the service may take to become ready"))


@dataclass(frozen=True)
class TestSpec:
    resources: Resources = field(default_factory=Resources, metadata=key(
        mapping_of(Resources), doc="limits of every step and service"))
    services: tuple[ServiceSpec, ...] = field(default=(), metadata=key(
        map_of(ServiceSpec, "name", service_name),
        doc="sidecars, started first, reachable from the steps by their names"))
    steps: tuple[StepSpec, ...] = field(default=(), metadata=key(
        list_of(StepSpec, lambda index: {"name": f"step-{index + 1}"}),
        doc="the test steps, run in order, each in a fresh container"))


@dataclass(frozen=True)
class HealthSpec:
    path: str = field(default="/healthz", metadata=key(  # "": a TCP connect to the port
        URL_PATH, doc="the HTTP path probed; null for a TCP connect instead"))
    interval: float = field(default=1.0, metadata=key(
        POSITIVE_DURATION, doc="time between probes"))
    timeout: float = field(default=5.0, metadata=key(
        POSITIVE_DURATION, doc="how long one probe may take"))
    healthy_after: int = field(default=2, metadata=key(
        integer(minimum=1), doc="passing probes in a row that make the app healthy"))
    deadline: float = field(default=60.0, metadata=key(
        POSITIVE_DURATION, doc="how long the new app may take to become healthy"))


# -- apps with more than one container (DESIGN.md §9.2) ---------------------------------------
@dataclass(frozen=True)
class ReleaseSpec:
    """The release command: once per deploy, in a container of the new image, before any
    new container takes traffic or work."""

    run: str = field(metadata=key(COMMAND_LINE, required=True,
                                  doc="the shell command (a migration, say)"))
    timeout: float = field(default=600.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="the release is killed, and the deploy fails, after this long"))


@dataclass(frozen=True)
class ProcessSpec:
    """A process of the app with no port and no route (a queue worker, say)."""

    name: str  # its key in `deploy.processes`
    command: tuple[str, ...] | None = field(metadata=key(
        COMMAND, required=True, doc="the process's command"))
    replicas: int = field(default=1, metadata=key(
        integer(minimum=1), doc="containers of the process per generation"))
    resources: Resources = field(default_factory=Resources, metadata=key(
        mapping_of(Resources), doc="limits of each of its containers"))
    ready: str | None = field(default=None, metadata=key(
        OPTIONAL_STRING, doc="a command polled inside until it exits 0; else `settle`"))
    settle: float = field(default=3.0, metadata=key(  # seconds
        DURATION, doc="without `ready`: how long it must keep running to count as ready"))
    deadline: float = field(default=60.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="how long it may take to become ready"))
    stop_timeout: float = field(default=30.0, metadata=key(  # seconds
        DURATION, doc="between SIGTERM and SIGKILL when an old generation is stopped"))


@dataclass(frozen=True)
class DeploySpec:
    port: int = field(default=8000, metadata=key(
        TCP_PORT, doc="the app's port inside the container"))
    health: HealthSpec = field(default_factory=HealthSpec, metadata=key(
        mapping_of(HealthSpec), doc="the health check of a new app before it takes traffic"))
    drain: float = field(default=10.0, metadata=key(
        DURATION, doc="how long the old app may finish its requests after the switch"))
    env: dict[str, str] = field(default_factory=dict, metadata=key(
        ENV, doc="environment variables of the app"))
    resources: Resources = field(default_factory=Resources, metadata=key(
        mapping_of(Resources), doc="limits of the app's container"))
    keep: int = field(default=5, metadata=key(
        integer(minimum=1), doc="images kept for rollback"))
    # -- apps with more than one container (DESIGN.md §9.2) --
    command: tuple[str, ...] | None = field(default=None, metadata=key(
        COMMAND, doc="the web process's command; else the image's (or the Procfile's `web`)"))
    replicas: int = field(default=1, metadata=key(
        integer(minimum=1), doc="web containers per color; the switch waits for all"))
    release: ReleaseSpec | None = field(default=None, metadata=key(
        string_or_mapping_of(ReleaseSpec, "run"),
        doc="run once per deploy, before the new generation starts; not on rollback"))
    processes: tuple[ProcessSpec, ...] = field(default=(), metadata=key(
        map_of(ProcessSpec, "name", process_name),
        doc="containers with no port and no route, of the same generation as the web ones"))


@dataclass(frozen=True)
class PipelineSpec:
    build: BuildSpec = field(default_factory=BuildSpec, metadata=key(
        mapping_of(BuildSpec), doc="how the image is built"))
    test: TestSpec = field(default_factory=TestSpec, metadata=key(
        mapping_of(TestSpec, distinct_names), doc="what runs before a deploy"))
    deploy: DeploySpec = field(default_factory=DeploySpec, metadata=key(
        mapping_of(DeploySpec), doc="how the app is run and switched to"))


@dataclass(frozen=True)
class DeployTarget:
    branch: str = field(default="main", metadata=key(
        STRING, doc="the branch whose passing runs deploy"))
    host: str | None = field(default=None, metadata=key(
        HOST_NAME, doc="the host name Caddy routes to the app"))
    approval: bool = field(default=False, metadata=key(
        SWITCH, doc="a passing run waits for a person's approval before it deploys"))


# -- people and time: notifications and schedules (project file) -----------------------------
@dataclass(frozen=True)
class NotifyTarget:
    url: str = field(metadata=key(NOTIFY_URL, required=True, doc=(
        "where to send: any Apprise URL (slack://, discord://, mailto://, ntfy://, json://, "
        "...); never shown")))
    on: tuple[str, ...] = field(default=("failed", "fixed", "deploy_failed"), metadata=key(
        NOTIFY_EVENTS, doc="the events sent there"))


@dataclass(frozen=True)
class Schedule:
    cron: str = field(metadata=key(CRON, required=True,
                                   doc="when, in UTC: minute hour day month weekday"))
    branch: str = field(default="main", metadata=key(
        STRING, doc="the branch whose head is run"))
    deploy: bool = field(default=False, metadata=key(
        SWITCH, doc="whether the run may deploy (on `deploy.branch` only)"))


# -- state that outlives deploys: accessories (DESIGN.md §9.3) --------------------------------
@dataclass(frozen=True)
class BackupSpec:
    """How an accessory's data is backed up and restored, by commands run inside it."""

    run: str = field(metadata=key(COMMAND_LINE, required=True,
                                  doc="run inside the accessory; its output is the backup file"))
    restore: str | None = field(default=None, metadata=key(
        OPTIONAL_STRING, doc="run inside the accessory with a backup file as its input"))
    every: float | None = field(default=None, metadata=key(  # seconds; None: on demand only
        POSITIVE_DURATION, shown="none", doc="how often a backup is taken; else only when "
                                             "asked for"))
    keep: int = field(default=7, metadata=key(
        integer(minimum=1), doc="backups kept; older ones are removed"))
    ext: str = field(default="dump", metadata=key(
        BACKUP_EXTENSION, doc="the backup files' extension (`sql` for `pg_dumpall`)"))
    timeout: float = field(default=3600.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="a backup or restore is stopped, and failed, after this long"))


@dataclass(frozen=True)
class AccessorySpec:
    """A container beside the app (a database, say) that no deploy restarts: its data lives
    in named volumes, and the app reaches it by its name on the project's network."""

    name: str  # its key in `accessories`
    image: str = field(metadata=key(IMAGE, required=True, doc="the accessory's image"))
    env: dict[str, str] = field(default_factory=dict, metadata=key(
        ENV, doc="environment variables of the accessory (`${VAR}` from the server's)"))
    command: tuple[str, ...] | None = field(default=None, metadata=key(
        COMMAND, doc="replaces the image's command"))
    volumes: dict[str, str] = field(default_factory=dict, metadata=key(
        VOLUMES, doc="named volumes and where they are mounted: `{data: /var/lib/data}`"))
    ready: str | None = field(default=None, metadata=key(
        OPTIONAL_STRING, doc="a command polled inside until it exits 0; else running is ready"))
    deadline: float = field(default=120.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="how long it may take to become ready"))
    resources: Resources = field(default_factory=Resources, metadata=key(
        mapping_of(Resources), doc="limits of its container"))
    backup: BackupSpec | None = field(default=None, metadata=key(
        optional_mapping_of(BackupSpec, "mapping", expand=True),
        doc="how its data is backed up (see Backups)"))


@dataclass(frozen=True, kw_only=True)
class Project:
    """A server-side project file: the trusted half of the configuration."""

    name: str = field(metadata=key(PROJECT_NAME, name="project",
                                   shown="the file's name",
                                   doc="the project's name; it must be the file's name"))
    repo: str = field(metadata=key(GIT_URL, required=True,
                                   doc="the only git URL (or path) cloned for the project"))
    forge: Forge = field(default=Forge.GITHUB, metadata=key(
        one_of(Forge), doc="the forge the webhooks come from"))
    webhook_secret: str = field(metadata=key(WEBHOOK_SECRET, required=UNSIGNED,
                                             doc="the secret webhooks are signed with"))
    branches: tuple[str, ...] = field(default=("main",), metadata=key(
        STRING_LIST, doc="branches whose pushes run the pipeline (globs: `release/*`)"))
    tags: bool = field(default=False, metadata=key(
        BOOLEAN, doc="whether pushed tags run the pipeline (tags never deploy)"))
    deploy: DeployTarget = field(default_factory=DeployTarget, metadata=key(
        mapping_of(DeployTarget), doc="where the app is deployed, and from which branch"))
    secrets: dict[str, str] = field(default_factory=dict, metadata=key(
        STRING_MAP, doc="environment of the steps and the app, masked in logs"))
    pipeline: PipelineSpec | None = field(default=None, metadata=key(
        optional_mapping_of(PipelineSpec, "a whole `.pushdock.yml`"),
        doc="the pipeline when the repository has no `.pushdock.yml`"))
    status_token: str = field(default="", metadata=key(
        STRING, doc="forge API token: commit statuses are reported when set"))
    status_api: str = field(default="", metadata=key(
        HTTP_URL, doc="the forge API's base URL, when not derived from `repo`"))
    timeout: float = field(default=3600.0, metadata=key(  # seconds
        POSITIVE_DURATION, doc="the most a whole run may take"))
    supersede: bool = field(default=True, metadata=key(
        SWITCH, doc="a newer push to a branch cancels older runs of that branch"))
    notify: tuple[NotifyTarget, ...] = field(default=(), metadata=key(
        list_of(NotifyTarget), doc="where runs are told about (see Notifications)"))
    schedules: tuple[Schedule, ...] = field(default=(), metadata=key(
        list_of(Schedule), doc="runs started by the clock (see Schedules)"))
    accessories: tuple[AccessorySpec, ...] = field(default=(), metadata=key(
        map_of(AccessorySpec, "name", accessory_name),
        doc="containers beside the app that deploys never restart (see Accessories)"))
    path: str = ""  # the file it was read from

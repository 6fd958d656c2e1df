"""Every name and label Pushdock gives what it makes, and their parsing back (pure).

Containers, networks, images, workspaces, Caddy routes, resolver names, RQ jobs and workers
are found again by these names and labels, often by another process or after a restart:
each is made and parsed here only, so the two sides never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.model import Color

PREFIX = "pushdock"
LABEL_PROJECT = "pushdock.project"
LABEL_COLOR = "pushdock.color"
LABEL_SHA = "pushdock.sha"
LABEL_RUN = "pushdock.run"
LABEL_ROLE = "pushdock.role"
LABEL_PROCESS = "pushdock.process"  # `web` or a process's name (DESIGN.md §9.2)
LABEL_REPLICA = "pushdock.replica"  # 1, 2, … within its process
# On a pull request's images: they are never deployed to deploy.host (DESIGN.md §9.4).
LABEL_PULL_REQUEST = "pushdock.pull-request"
LABEL_STOP_TIMEOUT = "pushdock.stop-timeout"  # seconds from SIGTERM to SIGKILL when stopped
WEB = "web"  # the process that has the port and the route
ZONE = "pushdock"  # the resolver's zone: `<project>.pushdock.`
# A project's name goes into container, network, image and DNS names: it must fit them all.
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_RUN = "-run"  # between the project and the run id in a run's names
# Between a project and a pull request's number in its preview's app name. "--" is refused
# in project names, so no project is ever called like another one's preview.
_PREVIEW = "--pr"
RESERVED = "--"
DNS_LABEL = 63  # the longest label a DNS name (the resolver's `<app>.pushdock.`) may hold


def is_project_name(name: str) -> bool:
    return bool(_PROJECT_NAME.match(name)) and RESERVED not in name


def is_app_name(name: str) -> bool:
    """A name the blue/green sequence deploys under: a project's, or one of its previews'."""
    return is_project_name(name) or preview_of(name) is not None


@dataclass(frozen=True)
class PreviewRef:
    """A preview app named back: the project it belongs to and its pull request."""

    project: str
    number: int


def preview_app(project: str, number: int) -> str | None:
    """The app name of a pull request's preview: its containers, network, volumes, route and
    resolver name all derive from it, as a project's do from the project's name. None when
    it would not fit a DNS label (a project name longer than 63 - len("--pr<N>"))."""
    name = f"{project}{_PREVIEW}{number}"
    return name if number > 0 and len(name) <= DNS_LABEL else None


def preview_of(app: str) -> PreviewRef | None:
    """The project and pull request of a preview's app name; None for a project's own."""
    project, sep, number = app.rpartition(_PREVIEW)
    if not sep or not number.isdigit() or number.startswith("0") or not is_project_name(project):
        return None
    return PreviewRef(project, int(number)) if len(app) <= DNS_LABEL else None



class Role(StrEnum):
    """The `pushdock.role` label: what a container or network is for."""

    APP = "app"  # a blue or green app container
    APPS = "apps"  # the network the app containers share with Caddy
    STEP = "step"  # a test step of a run
    SERVICE = "service"  # a sidecar service of a run
    NETWORK = "network"  # a run's private network
    RELEASE = "release"  # the one-off container of a deploy's release command
    PROJECT = "project"  # a project's private network: its apps (and accessories)
    ACCESSORY = "accessory"  # a container or volume beside the app that deploys never touch


RUN_ROLES = (Role.STEP, Role.SERVICE)  # the containers a run leaves behind if it is lost


@dataclass(frozen=True)
class RunRef:
    """A run named by a workspace or by labels: its project and its id."""

    project: str
    run_id: str


# -- labels ---------------------------------------------------------------------------------
def app_labels(project: str, color: Color, sha: str, run_id: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_COLOR: color.value, LABEL_SHA: sha,
            LABEL_RUN: run_id, LABEL_ROLE: Role.APP.value}


def run_labels(project: str, run_id: str, role: Role) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_RUN: run_id, LABEL_ROLE: role.value}


def image_labels(project: str, sha: str, pull_request: int | None = None) -> dict[str, str]:
    labels = {LABEL_PROJECT: project, LABEL_SHA: sha}
    if pull_request is not None:
        labels[LABEL_PULL_REQUEST] = str(pull_request)
    return labels


def deployable(image_labels: Mapping[str, str]) -> bool:
    """Whether an image of the project may go live: none a pull request built may, whatever
    its commit (a fork's code, built without the project's review)."""
    return LABEL_PULL_REQUEST not in image_labels


def apps_network_labels() -> dict[str, str]:
    return {LABEL_ROLE: Role.APPS.value}


def label_filter(label: str, value: str) -> str:
    """One `label=value` of a Docker list filter."""
    return f"{label}={value}"


def project_filter(project: str) -> str:
    return label_filter(LABEL_PROJECT, project)


def run_filters(project: str, run_id: str, role: Role | None = None) -> list[str]:
    """The label filters of a run's containers and networks (of one role, if given)."""
    found = [label_filter(LABEL_RUN, run_id), project_filter(project)]
    return found if role is None else [*found, label_filter(LABEL_ROLE, role.value)]


def app_filters(project: str | None = None) -> list[str]:
    """The label filters of app containers (of one project, if given)."""
    found = [label_filter(LABEL_ROLE, Role.APP.value)]
    return found if project is None else [*found, project_filter(project)]


def color_of_labels(labels: dict[str, str]) -> Color | None:
    value = labels.get(LABEL_COLOR)
    return Color(value) if value in (Color.BLUE.value, Color.GREEN.value) else None


def role_of_labels(labels: dict[str, str]) -> Role | None:
    value = labels.get(LABEL_ROLE)
    return Role(value) if value in {role.value for role in Role} else None


def run_of_labels(labels: dict[str, str]) -> RunRef | None:
    """The run a container or network was labelled with, if both labels are there."""
    project, run_id = labels.get(LABEL_PROJECT), labels.get(LABEL_RUN)
    return RunRef(project, run_id) if project and run_id else None


# -- app containers -------------------------------------------------------------------------
def _member(process: str, replica: int) -> str:
    # The first web container keeps the name it had before apps had processes and replicas,
    # so a deployment made then is still found (and reconciled) by its name.
    return "" if process == WEB and replica == 1 else f"-{process}-{replica}"


def app_container(project: str, color: Color, process: str = WEB, replica: int = 1) -> str:
    return f"{PREFIX}-{project}-{color.value}{_member(process, replica)}"


def app_hostname(project: str, color: Color, process: str = WEB, replica: int = 1) -> str:
    return f"{project}-{color.value}{_member(process, replica)}"


# -- generations: processes, replicas, the release (DESIGN.md §9.2) --------------------------
def generation_labels(project: str, color: Color, sha: str, run_id: str, process: str,
                      replica: int, stop_timeout: float) -> dict[str, str]:
    # docker-py's containers.create takes no stop timeout: the label carries it to the stop.
    return {**app_labels(project, color, sha, run_id), LABEL_PROCESS: process,
            LABEL_REPLICA: str(replica), LABEL_STOP_TIMEOUT: f"{stop_timeout:g}"}


def stop_timeout_of_labels(labels: dict[str, str]) -> float | None:
    try:
        return float(labels[LABEL_STOP_TIMEOUT])
    except (KeyError, ValueError):
        return None


def release_container(project: str, color: Color) -> str:
    return f"{PREFIX}-{project}-{color.value}-release"


def release_labels(project: str, sha: str, run_id: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_SHA: sha, LABEL_RUN: run_id,
            LABEL_ROLE: Role.RELEASE.value}


def release_filters(project: str) -> list[str]:
    return [label_filter(LABEL_ROLE, Role.RELEASE.value), project_filter(project)]


def process_of_labels(labels: dict[str, str]) -> str:
    """A container's process; an app container from before processes is the web one."""
    return labels.get(LABEL_PROCESS) or WEB


def replica_of_labels(labels: dict[str, str]) -> int:
    value = labels.get(LABEL_REPLICA, "")
    return int(value) if value.isdigit() else 1


# -- project networks (DESIGN.md §9.3) ------------------------------------------------------
LABEL_EDGE = "pushdock.edge"  # on a project network: the apps network of its Pushdock


def project_network(project: str) -> str:
    """The network private to one project's apps: other projects' containers and test
    steps are on other bridges, which the engine keeps apart."""
    return f"{PREFIX}-{project}"


def project_network_labels(project: str, edge: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_ROLE: Role.PROJECT.value, LABEL_EDGE: edge}


def project_network_filters(edge: str) -> list[str]:
    """The label filters of the project networks of one Pushdock (by its apps network)."""
    return [label_filter(LABEL_ROLE, Role.PROJECT.value), label_filter(LABEL_EDGE, edge)]


# -- accessories (DESIGN.md §9.3) -----------------------------------------------------------
LABEL_ACCESSORY = "pushdock.accessory"  # the accessory's name in the project file
LABEL_VOLUME = "pushdock.volume"  # on an accessory's volume: its name in `volumes`
LABEL_DEFINITION = "pushdock.definition"  # a digest of what the container was made from


def accessory_container(project: str, accessory: str) -> str:
    return f"{PREFIX}-{project}-{accessory}"


def accessory_volume(project: str, accessory: str, volume: str) -> str:
    return f"{PREFIX}-{project}-{accessory}-{volume}"


def accessory_labels(project: str, accessory: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_ROLE: Role.ACCESSORY.value,
            LABEL_ACCESSORY: accessory}


def accessory_volume_labels(project: str, accessory: str, volume: str) -> dict[str, str]:
    return {**accessory_labels(project, accessory), LABEL_VOLUME: volume}


def accessory_filters(project: str, accessory: str | None = None) -> list[str]:
    """The label filters of a project's accessory containers and volumes (of one, if
    given)."""
    found = [label_filter(LABEL_ROLE, Role.ACCESSORY.value), project_filter(project)]
    return found if accessory is None else [*found, label_filter(LABEL_ACCESSORY, accessory)]


def accessory_of_labels(labels: dict[str, str]) -> str | None:
    """The accessory a container or volume belongs to; None for anything else."""
    if labels.get(LABEL_ROLE) != Role.ACCESSORY.value:
        return None
    return labels.get(LABEL_ACCESSORY) or None


# -- runs: networks, step and service containers, workspaces --------------------------------
def _of_run(project: str, run_id: str) -> str:
    return f"{PREFIX}-{project}{_RUN}{run_id}"


def run_network(project: str, run_id: str) -> str:
    return _of_run(project, run_id)


def step_container(project: str, run_id: str, step: str) -> str:
    return f"{_of_run(project, run_id)}-{step}"


def service_container(project: str, run_id: str, service: str) -> str:
    return f"{_of_run(project, run_id)}-svc-{service}"


def workspaces_dir(data_dir: Path) -> Path:
    """Where runs' work trees are checked out."""
    return data_dir / "workspaces"


def mirrors_dir(data_dir: Path) -> Path:
    """Where each project's bare mirror is kept."""
    return data_dir / "git"


def backups_dir(data_dir: Path, project: str, accessory: str) -> Path:
    """Where an accessory's backups are written (DESIGN.md §9.3)."""
    return data_dir / "backups" / project / accessory


def workspace_name(project: str, run_id: str) -> str:
    """The directory name of a run's work tree, under DATA_DIR/workspaces."""
    return f"{project}{_RUN}{run_id}"


def parse_workspace_name(name: str) -> RunRef | None:
    # The last "-run": a project name may hold "-run" itself, a run id never does.
    project, sep, run_id = name.rpartition(_RUN)
    if not sep or not project or not run_id or "-" in run_id:
        return None
    return RunRef(project, run_id)


def local_run_id(pid: int) -> str:
    """The id of a `pushdock run` on the command line: never a queued run's."""
    return f"local{pid}"


def is_queued_run_id(run_id: str) -> bool:
    """Only queued runs have numeric ids; a local run's things belong to its terminal."""
    return run_id.isdigit()


# -- images ---------------------------------------------------------------------------------
def image_tag(project: str, sha: str, pull_request: int | None = None) -> str:
    """A pull request's images are named apart, so that one never takes the name a deploy,
    rollback or approved run looks for."""
    if pull_request is None:
        return f"{project}:{sha}"
    return f"{project}/pull-{pull_request}:{sha}"


def cache_scope(project: str, *, trusted: bool = True) -> str:
    """What a build's cache mount ids are put under: a project's trusted runs share their
    caches, and never with its untrusted ones (a fork's pull request) or other projects."""
    return f"{PREFIX}/{project}/{'trusted' if trusted else 'untrusted'}"


def image_sha(project: str, tag: str) -> str | None:
    """The sha of one of the project's image tags; None for any other tag."""
    project_part, sep, sha = tag.partition(":")
    return sha if sep and project_part == project and sha else None


# -- the proxy and the resolver -------------------------------------------------------------
def route_id(project: str) -> str:
    """The `@id` of the project's Caddy route."""
    return f"{PREFIX}-{project}"


def route_project(ident: object) -> str | None:
    """The project of one of Pushdock's route ids; None for anything else."""
    if not isinstance(ident, str) or not ident.startswith(f"{PREFIX}-"):
        return None
    return ident.removeprefix(f"{PREFIX}-") or None


def upstream_name(project: str) -> str:
    """The name Caddy looks up for a project (rooted, so no search domain is tried)."""
    return f"{project}.{ZONE}."

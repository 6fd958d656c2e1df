"""What makes a value of Pushdock's keys valid beyond its kind: paths inside the repository,
image, host and environment variable names, git URLs. A check gives the problem as the
error goes on after `file:line: key:`, or None; the kinds here read what no plain kind can."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pipeline.config_keys import (
    DURATION,
    OPTIONAL_STRING,
    STRING,
    STRING_LIST,
    Kind,
    checked,
    integer,
)
from pipeline.names import is_project_name

if TYPE_CHECKING:
    from pipeline.config import TestSpec
    from pipeline.yamldoc import Section

_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# An image reference: [registry/]name[:tag][@digest]; never an option for the engine.
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_REMOTE_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$")
_SCP_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
_HTTP_URL = re.compile(r"^https?://[^\s/]+")
UNSIGNED = "is required: webhooks are only taken when signed"


def check_repo_url(url: str) -> bool:
    """Only plain URLs or absolute paths: never an option (-…) nor a transport like ext::."""
    if url.startswith("-") or "::" in url:
        return False
    return bool(_REMOTE_URL.match(url) or _SCP_URL.match(url) or url.startswith("/"))


def project_name(name: str) -> str | None:
    return None if is_project_name(name) else f'"{name}" must be lower-case letters, digits and "-"'


def git_url(url: str) -> str | None:
    if check_repo_url(url):
        return None
    return (f'"{url}" is not a git URL (https://, ssh://, git@host:path, file:// or an '
            "absolute path)")


def signed(secret: str) -> str | None:
    return None if secret else UNSIGNED


def host_name(host: str) -> str | None:
    return None if _HOST.match(host) else f'"{host}" is not a host name'


def http_url(url: str) -> str | None:
    return None if not url or _HTTP_URL.match(url) else f'"{url}" is not an http(s) URL'


def inside_repo(path: str) -> str | None:
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or ".." in parts or not path:
        return f'"{path}" must be a path inside the repository'
    return None


def image_name(image: str) -> str | None:
    return None if _IMAGE.match(image) else f'"{image}" is not an image name'


def step_name(name: str) -> str | None:
    if _STEP_NAME.match(name):
        return None
    return f'"{name}" may hold only letters, digits, "_", "." and "-"'


def service_name(name: str) -> str | None:
    if _SERVICE_NAME.match(name):
        return None
    return (f'"{name}" must be lower-case letters, digits and "-" '
            "(it becomes the service's host name)")


def secret_names(names: tuple[str, ...]) -> str | None:
    for name in names:
        if not _ENV_NAME.match(name):
            return f'"{name}" is not a secret\'s name (letters, digits and "_")'
    return None


def container_path(path: str) -> str | None:
    return None if path.startswith("/") else f'"{path}" must be an absolute path in the container'


def url_path(path: str) -> str | None:
    return f'"{path}" must start with "/"' if path and not path.startswith("/") else None


def not_blank(text: str) -> str | None:
    return None if text.strip() else "is empty"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def tcp_port(port: int) -> str | None:
    return None if port <= 65535 else "must be a TCP port (1-65535)"


def distinct_names(section: Section, test: TestSpec) -> None:
    """No two steps, nor a step and a service, share a name: the log and the run page tell
    steps apart by name, and a service's name is a host name on the run's network."""
    names: set[str] = set()
    for index, step in enumerate(test.steps):
        if step.name in names:
            raise section.doc.error((*section.path, "steps", index, "name"),
                                    f'"{step.name}" is used by an earlier step')
        names.add(step.name)
    services = {service.name for service in test.services}
    for step in test.steps:
        if step.name in services:
            raise section.error("steps", f'step "{step.name}" has the name of a service')


def _env(section: Section, name: str, default: Any) -> dict[str, str]:
    env = section.string_map(name)
    for variable in env:
        if not _ENV_NAME.match(variable):
            raise section.section(name).error(variable,
                                              "is not a valid environment variable name")
    return env


def _command(section: Section, name: str, default: Any) -> tuple[str, ...] | None:
    command = section.data.get(name)
    if command is None:
        return None
    if isinstance(command, str):
        return ("sh", "-c", command)
    return section.string_list(name, ())


def _url_path(section: Section, name: str, default: str) -> str:
    # Null (or empty) asks for a TCP connect to the port instead of an HTTP probe.
    if name in section and section.data[name] is None:
        return ""
    return section.string(name, default)


def _switch(section: Section, name: str, default: bool) -> bool:
    value = section.data.get(name, default)
    if not isinstance(value, bool):
        raise section.error(name, "must be true or false")
    return value


# -- people and time: notify, schedules -------------------------------------------------
def notify_url(url: str) -> str | None:
    import apprise  # only for project files that notify: its import takes a tenth of a second

    if apprise.Apprise.instantiate(url) is None:
        # The URL may hold a secret: the error names its scheme only.
        scheme = url.partition("://")[0] if "://" in url else "?"
        return f'"{scheme}://…" is not a notification URL Apprise knows'
    return None


def notify_events(events: tuple[str, ...]) -> str | None:
    from pipeline.model import NotifyEvent

    names = ", ".join(event.value for event in NotifyEvent)
    for event in events:
        if event not in NotifyEvent.__members__.values():
            return f'"{event}" is not one of {names}'
    return None if events else f"is empty: list some of {names}"


def cron_expression(expression: str) -> str | None:
    from croniter import croniter

    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        return (f'"{expression}" is not a cron expression (five fields: minute hour '
                'day-of-month month day-of-week, as "0 3 * * *")')
    return None


ENV = Kind("map of environment variables", _env)
COMMAND = Kind("string (run by sh -c) or list of strings", _command)
SWITCH = Kind("true or false", _switch)  # null is refused too, unlike BOOLEAN's
PROJECT_NAME = checked(STRING, project_name, 'lower-case letters, digits and "-"')
GIT_URL = checked(STRING, git_url, "git URL or absolute path")
HOST_NAME = checked(OPTIONAL_STRING, host_name, "host name")
HTTP_URL = checked(Kind("", lambda section, name, default: section.string(name, default)
                        .rstrip("/")), http_url, "http(s) URL")
REPO_PATH = checked(STRING, inside_repo, "path in the repository")
IMAGE = checked(STRING, image_name, "image name")
OPTIONAL_IMAGE = checked(OPTIONAL_STRING, image_name, "image name")
COMMAND_LINE = checked(STRING, not_blank, "shell command")
WEBHOOK_SECRET = checked(STRING, signed, "string")
STEP_NAME = checked(STRING, step_name, 'letters, digits, "_", "." and "-"')
CONTAINER_PATH = checked(OPTIONAL_STRING, container_path, "absolute path in the container")
URL_PATH = checked(Kind("", _url_path), url_path, 'path from "/", or null')
POSITIVE_DURATION = checked(DURATION, positive, "duration > 0")
SECRET_NAMES = checked(STRING_LIST, secret_names, "list of the project's secret names")
TCP_PORT = checked(integer(minimum=1), tcp_port, "TCP port")
NOTIFY_URL = checked(STRING, notify_url, "Apprise URL")
NOTIFY_EVENTS = checked(STRING_LIST, notify_events,
                        "list of failed, fixed, deployed, deploy_failed, waiting, backup_failed")
CRON = checked(STRING, cron_expression, "cron expression (UTC)")


# -- apps with more than one container (DESIGN.md §9.2) --------------------------------------
# What a Procfile's lines name besides processes: the web process and the release command.
RESERVED_PROCESS_NAMES = ("web", "release")


def process_name(name: str) -> str | None:
    """A process's name goes into its containers' names and labels."""
    if name in RESERVED_PROCESS_NAMES:
        return f'"{name}" is not a process name here (it names the web process or the release)'
    if _SERVICE_NAME.match(name) and len(name) <= 32:
        return None
    return f'"{name}" must be lower-case letters, digits and "-" (at most 32)'



# -- state that outlives deploys: accessories (DESIGN.md §9.3) --------------------------------
# A Docker volume's own name: never a path, so never a directory of the host.
_VOLUME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,10}(\.[a-z0-9]{1,10})?$")
# The names the app's own containers take after `pushdock-<project>-`: an accessory's
# container would take one of them (`blue`, `green-release`, a run's `run12-…`).
_TAKEN_ACCESSORY_NAME = re.compile(r"^(blue|green)(-|$)|^run(\d|local)")


def accessory_name(name: str) -> str | None:
    """An accessory's name is the host name the app reaches it by, and part of its
    container's and volumes' names."""
    if not _SERVICE_NAME.match(name) or len(name) > 32:
        return (f'"{name}" must be lower-case letters, digits and "-" (at most 32; it becomes '
                "the host name the app reaches it by)")
    if _TAKEN_ACCESSORY_NAME.match(name):
        return f'"{name}" is not an accessory name here (it names the app\'s own containers)'
    return None


def backup_extension(ext: str) -> str | None:
    if _EXTENSION.match(ext):
        return None
    return f'"{ext}" must be a file extension such as sql or sql.gz (no leading ".")'


def _volumes(section: Section, name: str, default: Any) -> dict[str, str]:
    """`{volume name: path in the container}`; a host path, a `host:container` string or a
    list of them is refused: an accessory's data lives in volumes Pushdock names."""
    if isinstance(section.data.get(name), list):
        raise section.error(name, "must map volume names to paths in the container "
                                  "(data: /var/lib/postgresql/data); host paths are not allowed")
    volumes = section.section(name)
    result: dict[str, str] = {}
    for volume, path in volumes.data.items():
        if not isinstance(volume, str) or not _VOLUME_NAME.match(volume):
            raise volumes.error(volume, f'"{volume}" must be a volume name (lower-case letters, '
                                        'digits, "_" and "-", at most 32); host paths are not '
                                        "allowed")
        if not isinstance(path, str) or not path.startswith("/") or ":" in path:
            raise volumes.error(volume, "must be an absolute path in the container")
        result[volume] = path.rstrip("/") or "/"
    paths = list(result.values())
    for volume, path in result.items():
        if paths.count(path) > 1:
            raise volumes.error(volume, f"{path} is the path of another volume too")
    return result


VOLUMES = Kind("map of volume names to paths in the container", _volumes)
BACKUP_EXTENSION = checked(STRING, backup_extension, "file extension")

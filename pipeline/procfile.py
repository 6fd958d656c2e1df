"""A repository's `Procfile`, read as Heroku and Dokku read it (pure, tested on data).

`web: CMD` is the web process's command, `release: CMD` the release command, and every other
`NAME: CMD` line a process with one replica. It fills only what `deploy` leaves unset: a
repository that declares `deploy.processes` has said what runs, and its Procfile is not read
for processes. The file is untrusted like `.pushdock.yml`: its commands run only under the
image's own `sh -c`, inside the app's containers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.config import DeploySpec, ProcessSpec, ReleaseSpec
from pipeline.config_rules import process_name
from pipeline.errors import ConfigError

PROCFILE = "Procfile"
MAX_PROCFILE_BYTES = 64 * 1024
# Heroku's process types: letters, digits, "_" and "-"; then ":" and the command.
_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class ProcessType:
    name: str
    command: str
    line: int


def parse_procfile(text: str, filename: str = PROCFILE) -> tuple[ProcessType, ...]:
    if len(text.encode()) > MAX_PROCFILE_BYTES:
        raise ConfigError(f"the file is larger than {MAX_PROCFILE_BYTES // 1024} KiB",
                          path=filename)
    found: dict[str, ProcessType] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigError(f'"{line[:60]}" is not "NAME: COMMAND"', path=filename,
                              line=number)
        name, command = match.group(1), match.group(2).strip()
        if not command:
            raise ConfigError(f"{name}: the command is empty", path=filename, line=number)
        problem = None if name in ("web", "release") else process_name(name)
        if problem:
            raise ConfigError(f"{name}: {problem}", path=filename, line=number)
        if name in found:
            raise ConfigError(f"{name}: given on line {found[name].line} already",
                              path=filename, line=number)
        found[name] = ProcessType(name, command, number)
    return tuple(found.values())


def apply_procfile(spec: DeploySpec, types: tuple[ProcessType, ...]) -> DeploySpec:
    """`spec` with what the Procfile says where `spec` says nothing."""
    by_name = {each.name: each for each in types}
    web, release = by_name.pop("web", None), by_name.pop("release", None)
    if web is not None and spec.command is None:
        spec = replace(spec, command=("sh", "-c", web.command))
    if release is not None and spec.release is None:
        spec = replace(spec, release=ReleaseSpec(run=release.command))
    if by_name and not spec.processes:
        spec = replace(spec, processes=tuple(
            ProcessSpec(name=each.name, command=("sh", "-c", each.command))
            for each in by_name.values()))
    return spec


def read_procfile(workspace: Path) -> tuple[ProcessType, ...] | None:
    """The repository's Procfile, or None when it has none (a symlink is refused)."""
    path = workspace / PROCFILE
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"{PROCFILE} must be a regular file")
    if not path.is_file():
        return None
    with path.open("rb") as file:
        data = file.read(MAX_PROCFILE_BYTES + 1)
    return parse_procfile(data.decode("utf-8", errors="replace"))

"""`pipelines.d/<project>.yml` (trusted, server-side) → Project; ${VAR} from the environment."""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.commit_status import status_target_problem
from pipeline.config import Project
from pipeline.config_keys import read_section
from pipeline.config_rules import is_project_name
from pipeline.errors import ConfigError, UnknownProject
from pipeline.yamldoc import YamlDoc

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VARIABLE_NAMES = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Replace ${VAR} with the environment's value; `$$` is a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        if name not in env:
            raise KeyError(name)
        return env[name]

    return _VARIABLE.sub(replace, value)


def _interpolate_tree(doc: YamlDoc, data: Any, path: tuple[str | int, ...],
                      env: Mapping[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _interpolate_tree(doc, v, (*path, k), env) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate_tree(doc, v, (*path, i), env) for i, v in enumerate(data)]
    if isinstance(data, str):
        try:
            return interpolate(data, env)
        except KeyError as missing:
            raise doc.error(path, f"${{{missing.args[0]}}} is not set in the environment") from None
    return data


def branch_matches(patterns: tuple[str, ...], branch: str) -> bool:
    """Whether a push to this branch runs the pipeline (globs: `main`, `release/*`)."""
    return any(fnmatch.fnmatchcase(branch, pattern) for pattern in patterns)


def parse_project(text: str | bytes, path: Path, env: Mapping[str, str] | None = None) -> Project:
    """A project file; its keys, defaults and checks are declared on `Project`."""
    env = os.environ if env is None else env
    filename = str(path)
    doc = YamlDoc.parse(text, filename)
    doc.root()  # the file must be a mapping
    doc.data = _interpolate_tree(doc, doc.data or {}, (), env)
    root = doc.root()
    project = read_section(Project, root, {"name": path.stem, "path": filename})
    if project.name != path.stem:
        raise root.error("project", f'"{project.name}" must match the file name '
                                    f"({path.stem}.yml)")
    if project.status_token:
        problem = status_target_problem(project.forge, project.repo)
        if problem:
            raise root.error("status_token", problem)
    return project


def project_file(config_dir: Path, name: str) -> Path:
    return config_dir / f"{name}.yml"


def load_project(config_dir: Path, name: str, env: Mapping[str, str] | None = None) -> Project:
    if not is_project_name(name):
        raise UnknownProject(f"no project named {name!r}")
    path = project_file(config_dir, name)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UnknownProject(f"no project named {name!r} (no {path})") from None
    return parse_project(text, path, env)


def load_projects(config_dir: Path, env: Mapping[str, str] | None = None
                  ) -> tuple[list[Project], list[ConfigError]]:
    """Every project file in the directory; a broken file is reported, never fatal to others."""
    projects: list[Project] = []
    errors: list[ConfigError] = []
    for path in sorted(config_dir.glob("*.yml")):
        try:
            projects.append(parse_project(path.read_bytes(), path, env))
        except ConfigError as exc:
            errors.append(exc)
    return projects, errors


# A file's stat stands for its bytes only once its last change is older than this: a second
# write within the same tick of the file system's clock can leave size and times as they were.
RACY_SECONDS = 2.0


@dataclass(frozen=True)
class _Parsed:
    stat: tuple[int, ...]  # device, inode, size, mtime and ctime (ns) when `text` was read
    trusted: bool  # the stat was old enough to stand for the bytes (see RACY_SECONDS)
    text: bytes
    names: tuple[str, ...]  # the ${VAR}s the file names
    values: tuple[str | None, ...]  # their values when it was parsed
    result: Project | ConfigError


class ProjectFiles:
    """Project files parsed again only when their bytes (or the values of the variables they
    name) changed: a webhook loads its project file for each delivery. A file is read again
    only when its stat changed, or changed too recently to tell (one stat per use)."""

    def __init__(self, config_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.config_dir = config_dir
        self.env = env
        self._dir = os.fspath(config_dir)
        self._parsed: dict[str, _Parsed] = {}  # by project file name, without .yml

    def _load(self, name: str) -> Project:
        """The project of `<name>.yml`; raises OSError (FileNotFoundError when there is no
        such file) or ConfigError."""
        env = os.environ if self.env is None else self.env
        # A string path: making a Path takes longer than the stat.
        st = os.stat(os.path.join(self._dir, f"{name}.yml"))
        stat = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._parsed.get(name)
        unchanged = cached is not None and cached.trusted and cached.stat == stat
        if cached is not None and unchanged:
            values = tuple([env.get(variable) for variable in cached.names])
            if values == cached.values:
                return _project(cached.result)
        path = project_file(self.config_dir, name)
        text = cached.text if cached is not None and unchanged else path.read_bytes()
        if cached is not None and cached.text == text:
            names = cached.names
        else:
            names = tuple(sorted({match.decode() for match in _VARIABLE_NAMES.findall(text)}))
        values = tuple([env.get(variable) for variable in names])
        result: Project | ConfigError
        if cached is not None and cached.text == text and cached.values == values:
            result = cached.result
        else:
            try:
                result = parse_project(text, path, env)
            except ConfigError as exc:
                result = exc
        trusted = time.time_ns() - st.st_ctime_ns > RACY_SECONDS * 1e9
        self._parsed[name] = _Parsed(stat, trusted, text, names, values, result)
        return _project(result)

    def load(self, name: str) -> Project:
        if not is_project_name(name):
            raise UnknownProject(f"no project named {name!r}")
        try:
            return self._load(name)
        except FileNotFoundError:
            path = project_file(self.config_dir, name)
            raise UnknownProject(f"no project named {name!r} (no {path})") from None

    def load_all(self) -> tuple[list[Project], list[ConfigError]]:
        projects: list[Project] = []
        errors: list[ConfigError] = []
        for path in sorted(self.config_dir.glob("*.yml")):
            try:
                projects.append(self._load(path.stem))
            except ConfigError as exc:
                errors.append(exc)
            except OSError:
                continue  # removed or unreadable since the listing
        return projects, errors


def _project(result: Project | ConfigError) -> Project:
    if isinstance(result, ConfigError):
        raise result
    return result

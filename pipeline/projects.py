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
from pipeline.errors import ConfigError, UnknownProject
from pipeline.model import DeployTarget, Forge, Project
from pipeline.spec import spec_from_section
from pipeline.yamldoc import YamlDoc

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VARIABLE_NAMES = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_REMOTE_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$")
_SCP_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")


def is_project_name(name: str) -> bool:
    return bool(PROJECT_NAME.match(name))


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


def check_repo_url(url: str) -> bool:
    """Only plain URLs or absolute paths: never an option (-…) nor a transport like ext::."""
    if url.startswith("-") or "::" in url:
        return False
    return bool(_REMOTE_URL.match(url) or _SCP_URL.match(url) or url.startswith("/"))


def parse_project(text: str | bytes, path: Path, env: Mapping[str, str] | None = None) -> Project:
    env = os.environ if env is None else env
    filename = str(path)
    doc = YamlDoc.parse(text, filename)
    doc.root()  # the file must be a mapping
    doc.data = _interpolate_tree(doc, doc.data or {}, (), env)
    root = doc.root()
    root.only("project", "repo", "forge", "webhook_secret", "branches", "tags", "deploy",
              "secrets", "pipeline", "status_token", "status_api", "timeout", "supersede")

    name = root.string("project", path.stem)
    if not is_project_name(name):
        raise root.error("project", f'"{name}" must be lower-case letters, digits and "-"')
    if name != path.stem:
        raise root.error("project", f'"{name}" must match the file name ({path.stem}.yml)')

    repo = root.string("repo", required=True)
    if not check_repo_url(repo):
        raise root.error("repo", f'"{repo}" is not a git URL (https://, ssh://, git@host:path, '
                                 "file:// or an absolute path)")

    forge_name = root.string("forge", "github")
    try:
        forge = Forge(forge_name)
    except ValueError:
        raise root.error("forge", f'"{forge_name}" is not one of '
                                  f"{', '.join(f.value for f in Forge)}") from None

    secret = root.string("webhook_secret")
    if not secret:
        raise root.error("webhook_secret", "is required: webhooks are only taken when signed")

    deploy = root.section("deploy")
    deploy.only("branch", "host")
    host = deploy.string("host") or None
    if host is not None and not _HOST.match(host):
        raise deploy.error("host", f'"{host}" is not a host name')

    status_token = root.string("status_token")
    status_api = root.string("status_api").rstrip("/")
    if status_api and not re.match(r"^https?://[^\s/]+", status_api):
        raise root.error("status_api", f'"{status_api}" is not an http(s) URL')
    if status_token:
        problem = status_target_problem(forge, repo)
        if problem:
            raise root.error("status_token", problem)

    pipeline = None
    if "pipeline" in root and root.data["pipeline"] is not None:
        pipeline = spec_from_section(root.section("pipeline"))

    timeout = root.duration("timeout", 3600.0)
    if timeout <= 0:
        raise root.error("timeout", "must be greater than 0")
    supersede = root.data.get("supersede", True)
    if not isinstance(supersede, bool):
        raise root.error("supersede", "must be true or false")

    return Project(
        name=name,
        repo=repo,
        forge=forge,
        webhook_secret=secret,
        branches=root.string_list("branches", ("main",)),
        deploy=DeployTarget(branch=deploy.string("branch", "main"), host=host),
        secrets=root.string_map("secrets"),
        pipeline=pipeline,
        timeout=timeout,
        supersede=supersede,
        path=filename,
        tags=root.boolean("tags", False),
        status_token=status_token,
        status_api=status_api,
    )


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

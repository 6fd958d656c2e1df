"""`pushdock run PATH`: a checkout's pipeline, now, in the terminal — no webhook, no Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.config import Project
from pipeline.control import RunControl
from pipeline.engine import connect_docker
from pipeline.errors import ConfigError, UnknownProject
from pipeline.model import Forge, Run, RunStatus, Trigger
from pipeline.names import local_run_id
from pipeline.projects import load_project
from pipeline.reporting import Masker
from pipeline.runner import Outcome, Runner
from pipeline.settings import Settings
from pipeline.store import Store, connect
from pipeline.units import format_duration
from pushdock.console import ConsoleReporter
from pushdock.errors import NoPushdockRunning
from pushdock.redis_location import with_redis


def _git(path: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(path), *args], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def project_name_for(path: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", path.resolve().name.lower()).strip("-")
    return name[:63] or "local"


def local_project(settings: Settings, path: Path, name: str | None) -> Project:
    """The project file named after the checkout (or --project), else a bare local project."""
    name = name or project_name_for(path)
    try:
        project = load_project(settings.config_dir, name)
    except UnknownProject:
        return Project(name=name, repo=str(path.resolve()), forge=Forge.GENERIC,
                       webhook_secret="-")
    return replace(project, repo=str(path.resolve()))


@dataclass(frozen=True)
class LocalCommit:
    sha: str
    branch: str
    message: str
    source: Path | None  # the working tree as it is; None: a clean checkout of `sha`


def local_commit(path: Path, sha: str | None) -> LocalCommit:
    source: Path | None = path.resolve()
    if sha is not None:
        if sha.startswith("-"):
            raise ConfigError(f"{sha!r} is not a commit")
        resolved = _git(path, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
        if not resolved:
            raise ConfigError(f"{sha!r} is not a commit of {path}")
        sha, source = resolved, None
    else:
        sha = _git(path, "rev-parse", "HEAD") or "0" * 40
    return LocalCommit(sha=sha, branch=_git(path, "rev-parse", "--abbrev-ref", "HEAD") or "local",
                       message=_git(path, "log", "-1", "--format=%s", sha) or "", source=source)


def deploy_store(settings: Settings, project: Project, deploy: bool) -> Store | None:
    """The records of the Pushdock that serves the project, when this run deploys."""
    if not (deploy and project.deploy.host):
        return None
    try:
        settings = with_redis(settings)
    except NoPushdockRunning:
        raise ConfigError("deploying needs PUSHDOCK_REDIS_URL (the Redis of the Pushdock "
                          "that serves this project) or a `pushdock up` running with this "
                          "PUSHDOCK_DATA_DIR; use --no-deploy to only build and test") from None
    assert settings.redis_url is not None
    return Store(connect(settings.redis_url))


def run_locally(settings: Settings, path: Path, *, sha: str | None, deploy: bool,
                project_name: str | None) -> int:
    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory")
    project = local_project(settings, path, project_name)
    commit = local_commit(path, sha)
    store = deploy_store(settings, project, deploy)
    sha, branch, message, source = commit.sha, commit.branch, commit.message, commit.source

    run = Run(id=local_run_id(os.getpid()), project=project.name, branch=branch, sha=sha,
              message=message, trigger=Trigger.LOCAL, status=RunStatus.RUNNING)
    reporter = ConsoleReporter(Masker(project.secrets.values()))
    print(f"pushdock: running {project.name} at {sha[:7]} ({branch})"
          + ("" if source is None else " from the working tree"), flush=True)
    control = RunControl(timeout=project.timeout)
    client = connect_docker()

    def interrupt(_signum: int, _frame: object) -> None:
        control.stop(RunStatus.CANCELLED, "interrupted")

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        with control:
            outcome: Outcome = Runner(settings, client, reporter, control, store).execute(
                run, project, source=source, deploy=deploy)
    finally:
        signal.signal(signal.SIGINT, previous)
        client.close()
    took = format_duration(time.monotonic() - reporter.started)
    if outcome.status is RunStatus.SUCCESS:
        print(f"pushdock: success in {took}", flush=True)
        return 0
    print(f"pushdock: {outcome.status.value} after {took}: {reporter.mask(outcome.reason)}",
          flush=True)
    return 1

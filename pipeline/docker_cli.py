"""The `docker` command line that builds with BuildKit.

Builds go through the CLI, not docker-py: the Engine API's BuildKit builds need a gRPC
session (for the context, secrets and progress) that only the CLI speaks. Since Docker 23
`docker build` hands BuildKit builds to the buildx plugin and fails without it, while the
20.10 CLI (Debian's docker.io) builds them itself; so the first `docker` on PATH is not
always one that can: each is asked in turn.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from pipeline.errors import BuildError

_ASK_TIMEOUT = 20.0  # seconds; the CLI answers these from itself, without the engine


def _answers(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_ASK_TIMEOUT,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def builds_with_buildkit(cli: str) -> bool:
    """Whether `cli build` with DOCKER_BUILDKIT=1 builds: a client before 23, or buildx."""
    version = _answers([cli, "version", "--format", "{{.Client.Version}}"])
    if version is None:
        return False
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return False
    return major < 23 or _answers([cli, "buildx", "version"]) is not None


def _candidates(path: str) -> list[str]:
    seen: list[str] = []
    for folder in path.split(os.pathsep):
        candidate = Path(folder or ".") / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            real = str(candidate.resolve())
            if real not in seen:
                seen.append(real)
    return seen


@functools.cache
def docker_cli(path: str | None = None) -> str:
    """The first `docker` on PATH that builds with BuildKit (asked once per process)."""
    candidates = _candidates(os.environ.get("PATH", "") if path is None else path)
    for cli in candidates:
        if builds_with_buildkit(cli):
            return cli
    if not candidates:
        raise BuildError("building needs the docker command line, and none is on PATH "
                         "(Debian: apt-get install docker.io)")
    raise BuildError(f"no docker command line on PATH builds with BuildKit (tried "
                     f"{', '.join(candidates)}): install the buildx plugin, or Debian's "
                     "docker.io")

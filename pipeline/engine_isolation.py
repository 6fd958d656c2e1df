"""Whether the Docker engine keeps project networks apart at every moment (DESIGN.md §9.3).

Each project's apps and accessories, and each run's test steps, sit on bridge networks of
their own; the engine's iptables rules (DOCKER-ISOLATION-STAGE-1/2, reached by a jump from
the FORWARD chain) drop traffic from one such network to another. Engines before 28.0.1
delete that jump, and DOCKER-USER's, and insert them again at the top of FORWARD each time
any bridge network is created on the engine. Until the jump is back, the FORWARD chain's
per-network ACCEPT rules let a container on one bridge network open connections to
containers on any other: on a busy engine, one project's app or test step can reach another
project's app or database for that moment. 28.0.1 moved its rules into a DOCKER-FORWARD
chain and no longer rewrites FORWARD after the daemon starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

FIXED_IN = (28, 0, 1)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class IsolationGap:
    engine_version: str

    def describe(self) -> str:
        fixed = ".".join(str(part) for part in FIXED_IN)
        return (f"the Docker engine {self.engine_version} lets containers on one network reach "
                f"those on another for a moment each time a network is created on it (it "
                f"removes and re-inserts its isolation rules), so projects are not always kept "
                f"apart from each other's apps and databases; upgrade the engine to "
                f"{fixed} or later")


def engine_version(info: Mapping[str, object]) -> tuple[int, int, int] | None:
    """The release of the engine whose `docker info` this is; None when it does not say."""
    match = _VERSION.match(str(info.get("ServerVersion") or ""))
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def isolation_gap(info: Mapping[str, object]) -> IsolationGap | None:
    """The gap in the isolation between networks of the engine whose `docker info` this
    is, or None when its release keeps networks apart throughout."""
    version = engine_version(info)
    if version is None or version >= FIXED_IN:
        return None
    return IsolationGap(str(info["ServerVersion"]))


def engine_gap() -> IsolationGap | None:
    """The gap of the engine this process talks to; None too when no engine answers yet,
    which each run then reports itself."""
    from pipeline.engine import connect_docker
    from pipeline.errors import EngineUnavailable

    try:
        client = connect_docker(timeout=30)
    except EngineUnavailable:
        return None
    try:
        return isolation_gap(client.info())
    finally:
        client.close()

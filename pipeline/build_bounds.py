"""How much memory and how many processes a build's RUN steps may use, held by the kernel.

BuildKit inside the engine runs each RUN in a container of its own, in the cgroup
`docker/buildkit/<id>` (with the cgroupfs driver; `docker` is the engine's cgroup parent),
and it ignores `docker build --memory` and `--cgroup-parent`. So the limits go on the
shared parent `docker/buildkit`: every RUN is created beneath it and cannot leave it. They
hold all the builds running on the engine at once, together.

With the systemd cgroup driver each RUN gets a scope of its own directly under
`system.slice`, with no parent of its own to limit: there builds cannot be bounded, and
Pushdock refuses to build until the engine uses the cgroupfs driver.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import BuildError
from pipeline.units import size_text

if TYPE_CHECKING:
    from pipeline.settings import Settings

ENGINE_PARENT = "docker"  # the engine's default cgroup parent (dockerd --cgroup-parent)
_GROUP = "buildkit"
_FIX = ("run `pushdock build-bounds` as root on the engine's host "
        "(script/bootstrap and the compose stack's worker do)")
SYSTEMD_DRIVER = (
    "builds cannot be bounded with the engine's systemd cgroup driver (each build step gets "
    "a cgroup of its own under system.slice): set \"exec-opts\": "
    "[\"native.cgroupdriver=cgroupfs\"] in /etc/docker/daemon.json and restart dockerd, or "
    "set PUSHDOCK_BUILD_BOUNDS=off if every repository built here is trusted")


class CgroupVersion(StrEnum):
    V1 = "1"
    V2 = "2"


@dataclass(frozen=True)
class BuildBounds:
    memory: int  # bytes, all build steps on the engine together
    pids: int


@dataclass(frozen=True)
class Limit:
    file: Path
    value: int
    required: bool = True  # False: only where the kernel has the file (swap accounting)


@dataclass(frozen=True)
class BuildGroups:
    """The cgroup directories that hold every build step of the engine."""

    version: CgroupVersion
    memory: Path
    pids: Path

    def limits(self, bounds: BuildBounds) -> tuple[Limit, ...]:
        if self.version is CgroupVersion.V1:
            return (Limit(self.memory / "memory.limit_in_bytes", bounds.memory),
                    # Memory and swap together: without it a step swaps past the limit.
                    Limit(self.memory / "memory.memsw.limit_in_bytes", bounds.memory,
                          required=False),
                    Limit(self.pids / "pids.max", bounds.pids))
        return (Limit(self.memory / "memory.max", bounds.memory),
                Limit(self.memory / "memory.swap.max", 0, required=False),
                Limit(self.pids / "pids.max", bounds.pids))


def build_groups(root: Path, version: str, driver: str,
                 parent: str = ENGINE_PARENT) -> BuildGroups:
    """Where the engine puts build steps, from what `docker info` says of its cgroups."""
    if driver == "systemd":
        raise BuildError(SYSTEMD_DRIVER)
    if version == CgroupVersion.V1:
        return BuildGroups(CgroupVersion.V1, root / "memory" / parent / _GROUP,
                           root / "pids" / parent / _GROUP)
    group = root / parent / _GROUP
    return BuildGroups(CgroupVersion.V2, group, group)


def parse_limit(text: str) -> int | None:
    """A limit file's value in bytes or processes; None for no limit."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    # cgroup v1 says "no limit" with the largest page-aligned 64-bit number.
    return None if value >= 2**62 else value


def unmet(groups: BuildGroups, bounds: BuildBounds) -> list[str]:
    """What is not held as asked: empty when every limit is in place (or tighter)."""
    problems = []
    for limit in groups.limits(bounds):
        try:
            current = parse_limit(limit.file.read_text())
        except (FileNotFoundError, NotADirectoryError):
            if limit.required:
                problems.append(f"{limit.file} does not exist")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{limit.file} cannot be read ({exc})")
            continue
        if current is None or current > limit.value:
            shown = "no limit" if current is None else str(current)
            problems.append(f"{limit.file} is {shown}, not {limit.value}")
    return problems


def apply(groups: BuildGroups, bounds: BuildBounds) -> None:
    """Create the parent cgroups if the engine has not yet, and set the limits."""
    if groups.version is CgroupVersion.V2:
        _enable_controllers(groups.memory)
    for folder in {groups.memory, groups.pids}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BuildError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    limits = [limit for limit in groups.limits(bounds)
              if limit.required or limit.file.exists()]
    # cgroup v1 keeps memory+swap at least memory: raising needs the order the other way
    # round from lowering, so a limit refused on the first pass is set on the second.
    refused = _write(limits)
    if refused and len(refused) < len(limits):
        refused = _write([limit for limit, _ in refused])
    if refused:
        limit, exc = refused[0]
        raise BuildError(f"cannot set {limit.file}: {exc.strerror or exc}")


def _write(limits: list[Limit]) -> list[tuple[Limit, OSError]]:
    refused = []
    for limit in limits:
        try:
            limit.file.write_text(f"{limit.value}\n")
        except OSError as exc:
            refused.append((limit, exc))
    return refused


def _enable_controllers(group: Path) -> None:
    # cgroup v2: a child has memory.max and pids.max only when every ancestor delegates them.
    root = next((p for p in group.parents if (p / "cgroup.controllers").exists()
                 and not (p.parent / "cgroup.controllers").exists()), None)
    if root is None:
        raise BuildError(f"no cgroup v2 hierarchy above {group}")
    folder = root
    for part in group.relative_to(root).parts:
        control = folder / "cgroup.subtree_control"
        try:
            control.write_text("+memory +pids\n")
        except OSError as exc:
            if exc.errno != errno.EBUSY:  # already delegated with processes inside
                raise BuildError(f"cannot delegate controllers in {control}: "
                                 f"{exc.strerror or exc}") from exc
        folder = folder / part
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise BuildError(f"cannot create {folder}: {exc.strerror or exc}") from exc


def memory_mark(groups: BuildGroups) -> int:
    """Taken before a build, to tell after it whether its steps hit the memory limit.

    cgroup v2 counts the hits in the parent (memory.events); v1 counts them only in the
    step's own cgroup, gone with the step, so there the parent's peak is reset instead and
    read after."""
    if groups.version is CgroupVersion.V2:
        return _v2_hits(groups)
    for name in _V1_PEAKS:
        try:
            (groups.memory / name).write_text("0\n")
        except OSError:
            pass  # a read-only view: the peak since the last reset is all there is
    return 0


def memory_hit(groups: BuildGroups, mark: int, bounds: BuildBounds) -> bool:
    if groups.version is CgroupVersion.V2:
        return _v2_hits(groups) > mark
    peaks = []
    for name in _V1_PEAKS:
        try:
            peaks.append(int((groups.memory / name).read_text()))
        except (OSError, ValueError):
            continue
    return bool(peaks) and max(peaks) >= bounds.memory - _NEAR


_V1_PEAKS = ("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes")
_NEAR = 4 * 1024 * 1024  # a peak this close to the limit is the limit: charges go by pages


def _v2_hits(groups: BuildGroups) -> int:
    try:
        text = (groups.memory / "memory.events").read_text()
    except OSError:
        return 0
    counts = dict(line.split() for line in text.splitlines() if line.strip())
    return int(counts.get("max", 0)) + int(counts.get("oom_kill", 0))


def not_held(problems: list[str]) -> BuildError:
    return BuildError(f"build bounds are not in place ({'; '.join(problems)}): {_FIX}")


def ran_out(bounds: BuildBounds, *, killed: bool, memory_hit: bool,
            cannot_fork: bool) -> str | None:
    """Why a failed build step failed, when it was its bounds (pure, tested on data)."""
    if killed and memory_hit:
        return (f"the build ran out of memory: its steps may use {size_text(bounds.memory)} "
                "(PUSHDOCK_BUILD_MEMORY)")
    if cannot_fork:
        return (f"the build ran out of processes: its steps may run {bounds.pids} "
                "(PUSHDOCK_BUILD_PIDS)")
    return None


@dataclass(frozen=True)
class BuildGuard:
    """The bounds of one engine's builds: checked (and set, where this process may) before
    each build, and asked after a failed one whether they were what stopped it."""

    groups: BuildGroups
    bounds: BuildBounds

    def ensure(self) -> None:
        if not unmet(self.groups, self.bounds):
            return
        try:
            apply(self.groups, self.bounds)
        except BuildError:
            pass  # not ours to set here (a read-only view): say what is missing instead
        problems = unmet(self.groups, self.bounds)
        if problems:
            raise not_held(problems)

    def mark(self) -> int:
        return memory_mark(self.groups)

    def explain(self, mark: int, *, killed: bool, cannot_fork: bool) -> str | None:
        hit = killed and memory_hit(self.groups, mark, self.bounds)
        return ran_out(self.bounds, killed=killed, memory_hit=hit, cannot_fork=cannot_fork)


def engine_groups(info: dict[str, object], root: Path) -> BuildGroups:
    """The build groups of the engine whose `docker info` this is."""
    return build_groups(root, str(info.get("CgroupVersion") or "1"),
                        str(info.get("CgroupDriver") or "cgroupfs"))


def build_guard(info: dict[str, object], settings: Settings) -> BuildGuard | None:
    """The guard of the engine whose `docker info` this is; None with the bounds off."""
    if not settings.build_bounds:
        return None
    return BuildGuard(engine_groups(info, settings.cgroup_root),
                      BuildBounds(memory=settings.build_memory, pids=settings.build_pids))


def describe(guard: BuildGuard) -> str:
    bounds = guard.bounds
    return (f"build steps on this engine may use {size_text(bounds.memory)} of memory and "
            f"{bounds.pids} processes together ({guard.groups.memory})")


def engine_guard(settings: Settings) -> BuildGuard | None:
    """The guard of the engine this process talks to (DOCKER_HOST, else the socket)."""
    from pipeline.engine import connect_docker  # only the commands that set bounds need it

    client = connect_docker(timeout=30)
    try:
        return build_guard(client.info(), settings)
    finally:
        client.close()

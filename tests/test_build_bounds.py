"""Bounds on build steps: where they live (on data), and what they hold on the real engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.build import build_image
from pipeline.build_bounds import (
    SYSTEMD_DRIVER,
    BuildBounds,
    BuildGroups,
    BuildGuard,
    CgroupVersion,
    apply,
    build_groups,
    build_guard,
    engine_groups,
    parse_limit,
    ran_out,
    unmet,
)
from pipeline.build_progress import ProgressReader
from pipeline.config import BuildSpec
from pipeline.errors import BuildError
from pipeline.settings import Settings
from tests.support import Lines, SampleRepo, restore_build_bounds

GIB = 1024**3
CGROUPS = Path("/sys/fs/cgroup")


def test_where_build_steps_live() -> None:
    v1 = build_groups(Path("/cg"), "1", "cgroupfs")
    assert v1 == BuildGroups(CgroupVersion.V1, Path("/cg/memory/docker/buildkit"),
                             Path("/cg/pids/docker/buildkit"))
    v2 = build_groups(Path("/cg"), "2", "cgroupfs")
    assert v2.memory == v2.pids == Path("/cg/docker/buildkit")
    assert [limit.file.name for limit in v2.limits(BuildBounds(GIB, 64))] == [
        "memory.max", "memory.swap.max", "pids.max"]
    with pytest.raises(BuildError, match=r"native\.cgroupdriver=cgroupfs"):
        build_groups(Path("/cg"), "2", "systemd")
    assert engine_groups({"CgroupVersion": "2", "CgroupDriver": "cgroupfs"}, Path("/x")) == \
        build_groups(Path("/x"), "2", "cgroupfs")


def test_limit_values() -> None:
    assert parse_limit("max\n") is None
    assert parse_limit("9223372036854771712\n") is None  # cgroup v1's "no limit"
    assert parse_limit("2147483648\n") == 2 * GIB


def test_reasons() -> None:
    bounds = BuildBounds(memory=GIB, pids=256)
    assert ran_out(bounds, killed=True, memory_hit=True, cannot_fork=False) == (
        "the build ran out of memory: its steps may use 1g (PUSHDOCK_BUILD_MEMORY)")
    assert ran_out(bounds, killed=False, memory_hit=False, cannot_fork=True) == (
        "the build ran out of processes: its steps may run 256 (PUSHDOCK_BUILD_PIDS)")
    # Killed without the limit hit (a step that kills itself): not the bounds.
    assert ran_out(bounds, killed=True, memory_hit=False, cannot_fork=False) is None


def test_progress_tells_a_failed_fork_and_a_kill() -> None:
    forks = ProgressReader(Lines())
    for line in ["#5 [2/2] RUN spawn", "#5 0.23 sh: can't fork: Resource temporarily "
                 "unavailable", "#5 ERROR: executor failed running [/bin/sh -c spawn]: "
                 "exit code: 2"]:
        forks.log(line)
    assert forks.failure().cannot_fork and not forks.failure().killed
    killed = ProgressReader(Lines())
    for line in ["#4 [1/2] RUN echo can't fork", "#4 0.1 can't fork", "#4 DONE 0.1s",
                 "#5 [2/2] RUN hog", "#5 ERROR: executor failed running [/bin/sh -c hog]: "
                 "exit code: 137"]:
        killed.log(line)
    # The fork failure was another step's, which succeeded: only the kill counts.
    assert killed.failure().killed and not killed.failure().cannot_fork


def test_limits_on_a_cgroup_v2_tree(tmp_path: Path) -> None:
    """A directory tree shaped as cgroup v2 (a stand-in for the kernel's files)."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    groups = build_groups(tmp_path, "2", "cgroupfs")
    bounds = BuildBounds(memory=GIB, pids=100)
    apply(groups, bounds)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids\n"
    assert (tmp_path / "docker" / "cgroup.subtree_control").read_text() == "+memory +pids\n"
    assert (groups.memory / "memory.max").read_text() == f"{GIB}\n"
    assert (groups.pids / "pids.max").read_text() == "100\n"
    assert unmet(groups, bounds) == []
    (groups.pids / "pids.max").write_text("max\n")
    assert unmet(groups, bounds) == [f"{groups.pids / 'pids.max'} is no limit, not 100"]
    assert unmet(groups, BuildBounds(memory=2 * GIB, pids=100)) == [
        f"{groups.pids / 'pids.max'} is no limit, not 100"]  # a tighter memory limit holds


def test_a_guard_that_cannot_set_its_bounds_refuses_to_build(tmp_path: Path) -> None:
    (tmp_path / "memory").write_text("not a folder")  # nothing can be created beneath
    guard = BuildGuard(build_groups(tmp_path, "1", "cgroupfs"), BuildBounds(GIB, 64))
    with pytest.raises(BuildError, match=r"build bounds are not in place \(.*memory"
                                         r"\.limit_in_bytes does not exist.*pushdock "
                                         r"build-bounds"):
        guard.ensure()


def test_bounds_off_and_systemd_hosts() -> None:
    assert build_guard({}, Settings(build_bounds=False)) is None
    with pytest.raises(BuildError) as refused:
        build_guard({"CgroupDriver": "systemd", "CgroupVersion": "2"}, Settings())
    assert str(refused.value) == SYSTEMD_DRIVER
    assert Settings.from_env({"PUSHDOCK_BUILD_MEMORY": "512m", "PUSHDOCK_BUILD_PIDS": "99",
                              "PUSHDOCK_BUILD_BOUNDS": "off"}) == Settings(
        build_memory=512 * 1024**2, build_pids=99, build_bounds=False)


def printed(lines: Lines, text: str) -> list[str]:
    """The step's output lines that say `text` ("#5 0.21 text"), not the step's name."""
    return [line for line in lines.lines if re.fullmatch(rf"#\d+ [\d.]+ {text}", line)]


@pytest.fixture
def tight_guard(docker_client) -> Iterator[BuildGuard]:
    """The engine's real bounds, lowered for the test and set back to the defaults after."""
    info = docker_client.info()
    guard = BuildGuard(engine_groups(info, CGROUPS), BuildBounds(memory=GIB, pids=256))
    apply(guard.groups, guard.bounds)
    yield guard
    restore_build_bounds(docker_client)


def fresh_base(base_image: str, project_name: str) -> str:
    """The Dockerfile's start, with an ENV of the test's own: its RUNs must really run, and
    BuildKit would answer the same steps built earlier on this engine from its cache."""
    return f"FROM {base_image}\nENV PUSHDOCK_TEST={project_name}\n"


def test_a_step_that_takes_too_much_memory_fails_with_the_reason(
        tight_guard: BuildGuard, base_image: str, project_name: str,
        sample_repo: SampleRepo) -> None:
    # dd fills a buffer of the block size: 1.5 GB held at once.
    sha = sample_repo.commit("v1", files={"Dockerfile": (
        f"{fresh_base(base_image, project_name)}"
        "RUN dd if=/dev/zero of=/dev/null bs=1500M count=1 && echo allocated\n")})
    lines = Lines()
    with pytest.raises(BuildError) as failed:
        build_image(BuildSpec(), sample_repo.path, project_name, sha, lines,
                    guard=tight_guard)
    assert str(failed.value) == ("the build ran out of memory: its steps may use 1g "
                                 "(PUSHDOCK_BUILD_MEMORY) at `RUN dd if=/dev/zero "
                                 "of=/dev/null bs=1500M count=1 && echo allocated`")
    assert printed(lines, "allocated") == []


def test_a_step_that_forks_too_many_fails_with_the_reason(
        tight_guard: BuildGuard, base_image: str, project_name: str,
        sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1", files={"Dockerfile": (
        f"{fresh_base(base_image, project_name)}"
        "RUN i=0; while [ $i -lt 300 ]; do sleep 30 & i=$((i+1)); done; echo forked 300\n")})
    lines = Lines()
    with pytest.raises(BuildError, match=r"^the build ran out of processes: its steps may "
                                         r"run 256 \(PUSHDOCK_BUILD_PIDS\) at `RUN i=0"):
        build_image(BuildSpec(), sample_repo.path, project_name, sha, lines,
                    guard=tight_guard)
    assert printed(lines, "forked 300") == []


def test_the_same_steps_build_without_the_bounds_they_exceed(
        docker_client, base_image: str, project_name: str, sample_repo: SampleRepo) -> None:
    """The control: with the default bounds (2g, 1024) both steps pass."""
    defaults = Settings()
    guard = build_guard(docker_client.info(), defaults)
    assert guard is not None
    sha = sample_repo.commit("v1", files={"Dockerfile": (
        f"{fresh_base(base_image, project_name)}"
        "RUN dd if=/dev/zero of=/dev/null bs=1500M count=1 && echo allocated\n"
        "RUN i=0; while [ $i -lt 300 ]; do sleep 1 & i=$((i+1)); done; echo forked 300; "
        "wait\n")})
    lines = Lines()
    build_image(BuildSpec(), sample_repo.path, project_name, sha, lines, guard=guard)
    assert unmet(guard.groups, guard.bounds) == []
    assert len(printed(lines, "allocated")) == len(printed(lines, "forked 300")) == 1

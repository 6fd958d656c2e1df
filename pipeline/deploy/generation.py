"""One generation of an app on the engine: its release command, its containers started
together, its processes' readiness (DESIGN.md §9.2).

A generation is every container of one deploy: the web replicas and each process's
replicas, all of one color, sha and run. It starts only after its release command exited 0,
and it takes traffic (the switch) only when every web replica is healthy and every process
ready; otherwise it is removed whole and the old generation keeps serving and working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from pipeline.config import ProcessSpec
from pipeline.containers import ContainerSpec
from pipeline.deploy.apps import death
from pipeline.errors import DeployError
from pipeline.reporting import Reporter
from pipeline.steps import StepResult, run_step
from pipeline.units import format_duration

READY_INTERVAL = 0.5  # seconds between runs of a process's `ready` command


def generation_networks(project_network: str) -> tuple[str, ...]:
    """The networks every container of a generation joins, the release's too; the first is
    the one the proxy reaches the web replicas on. The one place that says where an app's
    containers are, and what they reach: the project's own network (its accessories will
    join it), never another project's."""
    return (project_network,)


@dataclass(frozen=True)
class Started:
    """A container of the generation as it runs."""

    spec: ContainerSpec
    container: Container


def run_release(client: docker.DockerClient, spec: ContainerSpec, networks: tuple[str, ...],
                timeout: float, reporter: Reporter) -> str | None:
    """Run the release command to its end, its output into the run log; what went wrong,
    or None when it exited 0."""
    _remove(client, spec.name)  # a leftover of a worker that died during a release
    reporter.log(f"── release: {' '.join(spec.command or ())[:200]}")
    try:
        result: StepResult = run_step(client, spec, timeout, reporter, connect=networks[1:])
    except ImageNotFound:
        return f"image {spec.image} is not on this engine"
    except APIError as exc:
        return f"could not run the release: {exc.explanation or exc}"
    if result.timed_out:
        return f"the release timed out after {format_duration(timeout)}"
    if result.out_of_memory:
        return "the release ran out of memory"
    if result.exit_code != 0:
        return f"the release failed with exit code {result.exit_code}"
    reporter.log("── release passed")
    return None


def start_all(client: docker.DockerClient, specs: tuple[ContainerSpec, ...],
              networks: tuple[str, ...]) -> list[Started]:
    """Create and start every container; on a failure the ones started are removed and
    DeployError says which failed. create + start, not run: run() pulls a missing image
    from a registry, and an app image only ever comes from this engine's own build."""
    started: list[Started] = []
    try:
        for spec in specs:
            _remove(client, spec.name)  # a leftover of an interrupted deploy is replaced
            container = client.containers.create(**spec.kwargs())
            for network in networks[1:]:
                client.networks.get(network).connect(container)
            container.start()
            started.append(Started(spec, container))
    except ImageNotFound:
        remove_all(client, [*started])
        raise DeployError(f"image {specs[0].image} is not on this engine") from None
    except APIError as exc:
        remove_all(client, [*started])
        _remove(client, spec.name)
        raise DeployError(f"could not start {spec.name}: {exc.explanation or exc}") from None
    return started


def wait_ready(started: Started, process: ProcessSpec, reporter: Reporter) -> None:
    """A process is ready when its `ready` command exits 0 inside it, or, without one, when
    it has kept running for `settle` since it started; DeployError past its deadline."""
    container, name = started.container, started.spec.name
    began = time.monotonic()
    deadline = began + process.deadline
    what = f"`{process.ready}`" if process.ready else f"running for {process.settle:g}s"
    reporter.log(f"waiting for {name} to be ready ({what})")
    while True:
        gone = death(container)
        restarts = int(container.attrs.get("RestartCount") or 0)
        if gone or restarts:
            raise DeployError(f"{name} never became ready: "
                              + (gone or f"it restarted {restarts} time(s)"))
        if process.ready and _ready(container, process.ready):
            break
        if not process.ready and time.monotonic() - began >= process.settle:
            break
        if time.monotonic() > deadline:
            raise DeployError(f"{name} never became ready: {what} not within "
                              f"{format_duration(process.deadline)}")
        time.sleep(READY_INTERVAL if process.ready else min(READY_INTERVAL, process.settle))
    reporter.log(f"{name} is ready")


def _ready(container: Container, command: str) -> bool:
    try:  # under the image's own shell, inside the container
        result = container.exec_run(["sh", "-c", command])
    except APIError:
        return False  # not running between two checks (restarting)
    return result.exit_code == 0


def remove_all(client: docker.DockerClient, started: list[Started]) -> None:
    for each in started:
        _remove(client, each.spec.name)


def _remove(client: docker.DockerClient, name: str) -> None:
    try:
        client.containers.get(name).remove(force=True)
    except NotFound:
        pass

"""Test steps: each in a container of the image just built, under limits and a timeout."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import docker
import requests
from docker.errors import APIError, NotFound

from pipeline.config import Resources, StepSpec
from pipeline.containers import ContainerSpec
from pipeline.names import Role, run_labels, step_container
from pipeline.reporting import LineSplitter, Reporter
from pipeline.units import format_duration


@dataclass(frozen=True)
class StepResult:
    exit_code: int | None
    timed_out: bool = False
    out_of_memory: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.out_of_memory


def step_container_spec(step: StepSpec, *, image: str, resources: Resources,
                        env: dict[str, str], project: str, run_id: str,
                        network: str) -> ContainerSpec:
    """The container of one step (pure, tested on data).

    The command runs under the image's own `sh -c`: a shell inside the container, never on
    the host.
    """
    return ContainerSpec(
        image=step.image or image, name=step_container(project, run_id, step.name),
        labels=run_labels(project, run_id, Role.STEP), network=network, resources=resources,
        environment={**env, **step.env}, command=("sh", "-c", step.run),
        working_dir=step.workdir,
        swap=False,  # a step over its memory limit is killed
        init=True)  # shells that would not reap zombies or forward signals are helped


def run_step(client: docker.DockerClient, spec: ContainerSpec, timeout: float,
             reporter: Reporter, *, connect: tuple[str, ...] = ()) -> StepResult:
    """`connect`: networks joined beside `spec.network`, before it starts."""
    container = client.containers.create(**spec.kwargs())
    lines = LineSplitter(reporter)

    def follow() -> None:
        try:
            for chunk in container.logs(stream=True, follow=True):
                lines.feed(chunk.decode("utf-8", errors="replace"))
        except (APIError, requests.RequestException):
            pass  # the container went away; what was read is kept

    follower = threading.Thread(target=follow, name="step-logs", daemon=True)
    try:
        for network in connect:
            client.networks.get(network).connect(container)
        container.start()
        follower.start()
        timed_out = False
        try:
            exit_code: int | None = container.wait(timeout=timeout)["StatusCode"]
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            timed_out = True
            exit_code = None
            container.kill()
            container.wait(timeout=30)
        follower.join(timeout=10)
        lines.flush()
        container.reload()
        oom = bool(container.attrs["State"].get("OOMKilled"))
        if timed_out:
            reporter.log(f"step {spec.name} timed out after {format_duration(timeout)}")
        return StepResult(exit_code=exit_code, timed_out=timed_out, out_of_memory=oom)
    finally:
        try:
            container.remove(force=True)
        except (NotFound, APIError):
            pass  # already gone, or being removed by a cancel

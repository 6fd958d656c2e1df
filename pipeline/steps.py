"""Test steps: each in a container of the image just built, under limits and a timeout."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import APIError, NotFound

from pipeline.model import Resources, StepSpec
from pipeline.reporting import LineSplitter, Reporter
from pipeline.units import format_duration

LABEL_RUN = "pushdock.run"
LABEL_PROJECT = "pushdock.project"
LABEL_ROLE = "pushdock.role"


@dataclass(frozen=True)
class StepResult:
    exit_code: int | None
    timed_out: bool = False
    out_of_memory: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.out_of_memory


def run_labels(project: str, run_id: str, role: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_RUN: run_id, LABEL_ROLE: role}


def step_container_kwargs(step: StepSpec, *, image: str, resources: Resources,
                          env: dict[str, str], project: str, run_id: str,
                          network: str) -> dict[str, Any]:
    """Arguments of containers.create for one step (pure, tested on data).

    The command runs under the image's own `sh -c`: a shell inside the container, never on
    the host. Nothing from the repo's file can add mounts, devices or privileges here.
    """
    kwargs: dict[str, Any] = {
        "image": step.image or image,
        "command": ["sh", "-c", step.run],
        "name": f"pushdock-{project}-run{run_id}-{step.name}",
        "environment": {**env, **step.env},
        "labels": run_labels(project, run_id, "step"),
        "network": network,
        "nano_cpus": int(resources.cpus * 1e9),
        "mem_limit": resources.memory,
        "memswap_limit": resources.memory,  # no swap: a step over its limit is killed
        "pids_limit": resources.pids,
        "security_opt": ["no-new-privileges"],
        "init": True,  # reaps zombies and forwards signals in shells that would not
        "privileged": False,
        "detach": True,
    }
    if step.workdir:
        kwargs["working_dir"] = step.workdir
    return kwargs


def run_step(client: docker.DockerClient, kwargs: dict[str, Any], timeout: float,
             reporter: Reporter) -> StepResult:
    container = client.containers.create(**kwargs)
    lines = LineSplitter(reporter)

    def follow() -> None:
        try:
            for chunk in container.logs(stream=True, follow=True):
                lines.feed(chunk.decode("utf-8", errors="replace"))
        except (APIError, requests.RequestException):
            pass  # the container went away; what was read is kept

    follower = threading.Thread(target=follow, name="step-logs", daemon=True)
    try:
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
            reporter.log(f"step {kwargs['name']} timed out after {format_duration(timeout)}")
        return StepResult(exit_code=exit_code, timed_out=timed_out, out_of_memory=oom)
    finally:
        try:
            container.remove(force=True)
        except (NotFound, APIError):
            pass  # already gone, or being removed by a cancel

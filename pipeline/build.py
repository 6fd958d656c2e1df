"""docker build of a run's workspace, streamed into the run log."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError

from pipeline.config import BuildSpec
from pipeline.errors import BuildError
from pipeline.names import image_labels, image_tag
from pipeline.reporting import LineSplitter, Reporter

_STEP_LINE = re.compile(r"^Step \d+/\d+ : (.*)$")


def build_kwargs(spec: BuildSpec, workspace: Path, project: str, sha: str) -> dict[str, Any]:
    """Arguments of the low-level build call (pure, so it is tested on data)."""
    # Like compose: the Dockerfile path is relative to the context.
    return {
        "path": str(workspace / spec.context),
        "dockerfile": spec.dockerfile,
        "tag": image_tag(project, sha),
        "buildargs": dict(spec.args),
        "target": spec.target,
        "labels": image_labels(project, sha),
        "rm": True,
        "forcerm": True,
        "pull": False,
        "decode": True,
    }


def build_image(client: docker.DockerClient, spec: BuildSpec, workspace: Path, project: str,
                sha: str, reporter: Reporter, check: Callable[[], None] = lambda: None) -> str:
    """Build and tag the image; `check` is called between output chunks to stop early."""
    kwargs = build_kwargs(spec, workspace, project, sha)
    workspace = workspace.resolve()
    context = Path(kwargs["path"]).resolve()
    if not context.is_relative_to(workspace) or not context.is_dir():
        raise BuildError(f"build context {spec.context!r} is not a directory in the repository")
    dockerfile = context / kwargs["dockerfile"]
    if not dockerfile.resolve().is_relative_to(workspace) or not dockerfile.is_file():
        raise BuildError(f"no {spec.dockerfile} in the repository")

    reporter.log(f"building {kwargs['tag']}")
    tracker = _InstructionTracker(reporter)
    lines = LineSplitter(tracker)
    try:
        for chunk in client.api.build(**kwargs):
            check()
            if "stream" in chunk:
                lines.feed(chunk["stream"])
            if "error" in chunk:
                lines.flush()
                message = str(chunk["error"]).strip()
                reporter.log(message)
                where = f" at `{tracker.last}`" if tracker.last else ""
                raise BuildError(f"docker build failed{where}: {message}")
    except APIError as exc:
        raise BuildError(f"docker build failed: {exc.explanation or exc}") from None
    lines.flush()
    return kwargs["tag"]


class _InstructionTracker:
    """Passes build output on, remembering the Dockerfile instruction being run."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.last = ""

    def log(self, line: str) -> None:
        step = _STEP_LINE.match(line)
        if step:
            self.last = step.group(1)
        self.reporter.log(line)

"""A deploy spec as recorded with its deployment, and choosing what to roll back to."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from typing import Any

from pipeline.config import DeploySpec, HealthSpec, ProcessSpec, ReleaseSpec, Resources
from pipeline.errors import DeployError
from pipeline.model import Deployment, DeployResult
from pipeline.names import image_sha, image_tag


def spec_to_dict(spec: DeploySpec) -> dict[str, Any]:
    return asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> DeploySpec:
    defaults = DeploySpec()
    return DeploySpec(
        port=int(data.get("port", defaults.port)),
        health=HealthSpec(**data.get("health", {})),
        drain=float(data.get("drain", defaults.drain)),
        env=dict(data.get("env", {})),
        resources=Resources(**data.get("resources", {})),
        keep=int(data.get("keep", defaults.keep)),
        # A whole generation, as it was recorded: rollback brings back its processes too.
        command=_command(data.get("command")),
        replicas=int(data.get("replicas", defaults.replicas)),
        release=ReleaseSpec(**data["release"]) if data.get("release") else None,
        processes=tuple(_process(each) for each in data.get("processes") or ()),
    )


def _command(value: Any) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _process(data: dict[str, Any]) -> ProcessSpec:
    return ProcessSpec(**{**data, "command": _command(data.get("command")),
                          "resources": Resources(**data.get("resources", {}))})


def rollback_target(history: Sequence[Deployment], live_sha: str | None,
                    available: Collection[str], to: str | None = None) -> Deployment:
    """The deployment to go back to: `to` (a sha or its prefix), else the newest earlier
    successful one of another sha whose image is still on the engine (`available` images)."""
    good = [d for d in history if d.result == DeployResult.LIVE]
    if to:
        matches = [d for d in good if d.sha.startswith(to)]
        if not matches:
            raise DeployError(f"no successful deployment of {to} in the history")
        if len({d.sha for d in matches}) > 1:
            raise DeployError(f"{to} matches more than one deployed sha; give more of it")
        target = matches[0]
        if target.image not in available:
            raise DeployError(f"the image {target.image} is no longer on this engine "
                              "(pruned beyond `keep`); push that commit again to rebuild it")
        return target
    for deployment in good:
        if deployment.sha != live_sha and deployment.image in available:
            return deployment
    raise DeployError("nothing to roll back to: no earlier successful deployment of another "
                      "sha whose image is still on this engine")


def resolve_image(project: str, tags: Collection[str], sha: str | None,
                  newest_first: Sequence[str] = ()) -> tuple[str, str]:
    """(image, full sha) of the project's image for `sha` (or a prefix of it); without a
    sha the newest image (`newest_first` lists tags by age)."""
    if sha is None:
        for tag in newest_first:
            built = image_sha(project, tag)
            if built is not None:
                return tag, built
        raise DeployError(f"no image of {project} on this engine; push a commit to build one")
    matches = sorted({(t, built) for t in tags
                      if (built := image_sha(project, t)) is not None and built.startswith(sha)})
    if not matches:
        raise DeployError(f"no image {image_tag(project, sha)}… on this engine (never built "
                          "here, or pruned beyond `keep`); push that commit to build it")
    if len(matches) > 1:
        raise DeployError(f"{sha} matches more than one image of {project}; give more of it")
    return matches[0]


def spec_for(history: Sequence[Deployment], sha: str) -> DeploySpec | None:
    """The deploy spec last used for this sha, else the one last used for the project."""
    for deployment in history:
        if deployment.sha == sha and deployment.spec is not None:
            return deployment.spec
    for deployment in history:
        if deployment.spec is not None:
            return deployment.spec
    return None

"""An accessory as the engine is asked for it (pure, tested on data): its container, its
named volumes, and the digest that tells whether a running one was made from the
definition in the project file now (DESIGN.md §9.3)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.containers import ContainerSpec
from pipeline.errors import ConfigError
from pipeline.names import (
    LABEL_DEFINITION,
    accessory_container,
    accessory_labels,
    accessory_volume,
    accessory_volume_labels,
)

if TYPE_CHECKING:
    from pipeline.config import AccessorySpec, Project


def find_accessory(project: Project, name: str) -> AccessorySpec | None:
    return next((a for a in project.accessories if a.name == name), None)


def declared_accessory(project: Project, name: str) -> AccessorySpec:
    """The accessory `name` of `project`; ConfigError naming the ones it has otherwise."""
    accessory = find_accessory(project, name)
    if accessory is None:
        names = ", ".join(a.name for a in project.accessories) or "none"
        raise ConfigError(f"{project.name} has no accessory {name} (its accessories: {names})")
    return accessory


@dataclass(frozen=True)
class AccessoryVolume:
    """One named volume of an accessory: it outlives the container, and every deploy."""

    name: str  # the engine's name: pushdock-<project>-<accessory>-<volume>
    volume: str  # its name in the project file's `volumes`
    path: str  # where it is mounted in the container
    labels: dict[str, str]


def accessory_volumes(project: str, accessory: AccessorySpec) -> tuple[AccessoryVolume, ...]:
    return tuple(AccessoryVolume(accessory_volume(project, accessory.name, volume), volume,
                                 path, accessory_volume_labels(project, accessory.name, volume))
                 for volume, path in accessory.volumes.items())


def definition_digest(accessory: AccessorySpec) -> str:
    """What the container is made from; its backup settings are not (they change nothing in
    the container)."""
    made_of = {"image": accessory.image, "env": accessory.env,
               "command": accessory.command, "volumes": accessory.volumes,
               "resources": [accessory.resources.cpus, accessory.resources.memory,
                             accessory.resources.pids]}
    text = json.dumps(made_of, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def accessory_container_spec(project: str, accessory: AccessorySpec,
                             network: str) -> ContainerSpec:
    """Restarted by the engine unless a person stopped it; reached by its name on the
    project's network only; its data in its named volumes."""
    return ContainerSpec(
        image=accessory.image, name=accessory_container(project, accessory.name),
        labels={**accessory_labels(project, accessory.name),
                LABEL_DEFINITION: definition_digest(accessory)},
        network=network, resources=accessory.resources, environment=dict(accessory.env),
        command=accessory.command, hostname=accessory.name, aliases=(accessory.name,),
        swap=False, restart=True,
        volumes=tuple((volume.name, volume.path)
                      for volume in accessory_volumes(project, accessory)))

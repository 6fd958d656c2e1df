"""A project's accessories on the engine (DESIGN.md §9.3; the pure side is
pipeline/accessories.py): started before a deploy when missing, never restarted by one,
recreated (volumes kept) only when a person asks, removed with their volumes only then.

Everything here finds an accessory by its labels and name: no cleanup of apps or runs
selects `pushdock.role=accessory`, so none of them ever reaches an accessory or its data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline.accessories import accessory_container_spec, accessory_volumes
from pipeline.config import AccessorySpec
from pipeline.engine import ContainerState
from pipeline.errors import DeployError
from pipeline.images import ensure_image
from pipeline.names import (
    LABEL_DEFINITION,
    accessory_container,
    accessory_filters,
    accessory_of_labels,
)
from pipeline.reporting import Reporter

READY_INTERVAL = 0.5  # seconds between runs of the `ready` command
STOP_TIMEOUT = 30  # seconds a database gets to shut down cleanly


@dataclass(frozen=True)
class AccessoryState:
    """An accessory as the engine has it, for `pushdock status`."""

    name: str
    status: str  # the engine's: running, exited, … ; "missing" when there is no container
    image: str
    current: bool  # made from the definition in the project file now


class Accessories:
    def __init__(self, client: docker.DockerClient, reporter: Reporter) -> None:
        self.docker = client
        self.reporter = reporter

    def get(self, project: str, name: str) -> Container | None:
        try:
            container = self.docker.containers.get(accessory_container(project, name))
        except NotFound:
            return None
        # Only an accessory of this project answers to the name.
        if accessory_of_labels(container.labels) != name:
            raise DeployError(f"{container.name} exists and is not {project}'s accessory "
                              f"{name}; remove or rename it")
        return container

    def ensure(self, project: str, accessory: AccessorySpec, network: str) -> Container:
        """Running and ready: made when missing, started when stopped, else left as it is
        (a deploy never restarts an accessory)."""
        container = self.get(project, accessory.name)
        if container is None:
            container = self._create(project, accessory, network)
        elif container.status != ContainerState.RUNNING:
            self.reporter.log(f"accessory {accessory.name}: starting (it was {container.status})")
            container.start()
        else:
            self._note_changed(project, accessory, container, network)
        self.wait_ready(accessory, container)
        return container

    def ensure_all(self, project: str, accessories: tuple[AccessorySpec, ...],
                   network: str) -> None:
        for accessory in accessories:
            self.ensure(project, accessory, network)

    def restart(self, project: str, accessory: AccessorySpec, network: str) -> Container:
        """The definition in the project file applied: the container made anew, the data
        kept in its volumes. The image is had first: a missing one leaves the old running."""
        ensure_image(self.docker, accessory.image, self.reporter)
        self.stop(project, accessory.name, remove=True)
        container = self._create(project, accessory, network)
        self.wait_ready(accessory, container)
        return container

    def stop(self, project: str, name: str, *, remove: bool = False) -> bool:
        """Stopped (it stays stopped until started: the engine's restart policy is
        `unless-stopped`); with `remove`, its container goes too, never its volumes."""
        container = self.get(project, name)
        if container is None:
            return False
        self.reporter.log(f"accessory {name}: stopping")
        try:
            container.stop(timeout=STOP_TIMEOUT)
            if remove:
                container.remove(v=False)
        except NotFound:
            pass
        return True

    def remove(self, project: str, name: str) -> list[str]:
        """The container and every volume of the accessory: its data is gone."""
        removed = []
        if self.stop(project, name, remove=True):
            removed.append(accessory_container(project, name))
        for volume in self.docker.volumes.list(filters={"label": accessory_filters(project,
                                                                                   name)}):
            volume.remove()
            removed.append(volume.name)
        return removed

    def logs(self, project: str, name: str, *, follow: bool, tail: int | str
             ) -> Iterator[bytes]:
        container = self.get(project, name)
        if container is None:
            raise DeployError(f"{project} has no accessory {name} on this engine")
        if follow:
            yield from container.logs(stream=True, follow=True, tail=tail)
        else:
            yield container.logs(tail=tail)

    def states(self, project: str, accessories: tuple[AccessorySpec, ...]
               ) -> list[AccessoryState]:
        states = []
        for accessory in accessories:
            container = self.get(project, accessory.name)
            if container is None:
                states.append(AccessoryState(accessory.name, "missing", accessory.image, False))
                continue
            wanted = accessory_container_spec(project, accessory, "").labels[LABEL_DEFINITION]
            states.append(AccessoryState(accessory.name, container.status, accessory.image,
                                         container.labels.get(LABEL_DEFINITION) == wanted))
        return states

    def wait_ready(self, accessory: AccessorySpec, container: Container) -> None:
        """Its `ready` command polled inside it until it exits 0, within its deadline."""
        deadline = time.monotonic() + accessory.deadline
        attempts = 0
        if not accessory.ready:
            self.reporter.log(f"accessory {accessory.name}: no ready command; ready once "
                              "running")
        while True:
            attempts += 1
            container.reload()
            if container.status not in (ContainerState.RUNNING, ContainerState.CREATED,
                                        ContainerState.RESTARTING):
                self._log_tail(accessory, container)
                raise DeployError(f"accessory {accessory.name} exited with code "
                                  f"{container.attrs['State'].get('ExitCode')} before it was "
                                  "ready")
            if self._is_ready(accessory, container):
                self.reporter.log(f"accessory {accessory.name}: ready")
                return
            if time.monotonic() > deadline:
                self._log_tail(accessory, container)
                raise DeployError(f"accessory {accessory.name} was not ready within "
                                  f"{accessory.deadline:g}s (`{accessory.ready}`, "
                                  f"{attempts} attempts)")
            if attempts % 20 == 1:
                self.reporter.log(f"accessory {accessory.name}: waiting for `{accessory.ready}`")
            time.sleep(READY_INTERVAL)

    # -- the engine's side ------------------------------------------------------------------
    def _create(self, project: str, accessory: AccessorySpec, network: str) -> Container:
        ensure_image(self.docker, accessory.image, self.reporter)
        for volume in accessory_volumes(project, accessory):
            self._ensure_volume(volume.name, volume.labels)
        spec = accessory_container_spec(project, accessory, network)
        try:
            container = self.docker.containers.create(**spec.kwargs())
            container.start()
        except APIError as exc:
            raise DeployError(f"accessory {accessory.name} did not start: "
                              f"{exc.explanation or exc}") from None
        self.reporter.log(f"accessory {accessory.name}: started {accessory.image} as "
                          f"{spec.name} (volumes: "
                          f"{', '.join(name for name, _ in spec.volumes) or 'none'})")
        return container

    def _ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        try:
            self.docker.volumes.get(name)
        except NotFound:
            self.docker.volumes.create(name, labels=labels)

    def _note_changed(self, project: str, accessory: AccessorySpec, container: Container,
                      network: str) -> None:
        wanted = accessory_container_spec(project, accessory, network).labels[LABEL_DEFINITION]
        if container.labels.get(LABEL_DEFINITION) != wanted:
            self.reporter.log(f"accessory {accessory.name}: its definition changed and is "
                              f"not applied by a deploy (`pushdock accessory {project} "
                              f"{accessory.name} restart` applies it)")

    def _is_ready(self, accessory: AccessorySpec, container: Container) -> bool:
        if container.status != ContainerState.RUNNING:
            return False
        if not accessory.ready:
            return True
        try:
            result = container.exec_run(["sh", "-c", accessory.ready], demux=False)
        except APIError:
            return False
        return result.exit_code == 0

    def _log_tail(self, accessory: AccessorySpec, container: Container) -> None:
        try:
            text = container.logs(tail=30).decode("utf-8", errors="replace")
        except (APIError, NotFound):
            return
        for line in text.splitlines():
            self.reporter.log(f"[{accessory.name}] {line}")

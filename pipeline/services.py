"""Sidecar services of a run: started on the run's private network, reachable by name,
waited for, and their logs kept with the run."""

from __future__ import annotations

import socket
import time
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline.config import Resources, ServiceSpec
from pipeline.containers import ContainerSpec
from pipeline.control import RunControl
from pipeline.engine import own_container
from pipeline.errors import ServiceFailed
from pipeline.images import ensure_image
from pipeline.names import Role, run_labels, service_container
from pipeline.reporting import Reporter

READY_POLL = 0.5


def service_container_spec(service: ServiceSpec, *, resources: Resources, project: str,
                           run_id: str, network: str) -> ContainerSpec:
    """The container of one service (pure, tested on data)."""
    return ContainerSpec(
        image=service.image, name=service_container(project, run_id, service.name),
        labels=run_labels(project, run_id, Role.SERVICE), network=network,
        resources=resources, environment=dict(service.env), command=service.command,
        hostname=service.name,
        aliases=(service.name,))  # the name steps reach it by, on the run's network only


def first_exposed_port(attrs: dict[str, Any]) -> int | None:
    """The lowest TCP port the container's image exposes (from `docker inspect`)."""
    ports = (attrs.get("Config") or {}).get("ExposedPorts") or {}
    tcp = sorted(int(p.split("/")[0]) for p in ports if p.endswith("/tcp"))
    return tcp[0] if tcp else None


class Services:
    def __init__(self, client: docker.DockerClient, reporter: Reporter,
                 control: RunControl) -> None:
        self.docker = client
        self.reporter = reporter
        self.control = control
        self.started: list[tuple[ServiceSpec, Container]] = []

    def start(self, services: tuple[ServiceSpec, ...], *, resources: Resources, project: str,
              run_id: str, network: str) -> None:
        for service in services:
            ensure_image(self.docker, service.image, self.reporter)
            spec = service_container_spec(service, resources=resources, project=project,
                                          run_id=run_id, network=network)
            try:
                container = self.docker.containers.run(**spec.kwargs())
            except APIError as exc:
                raise ServiceFailed(f"service {service.name} did not start: "
                                    f"{exc.explanation or exc}") from None
            self.started.append((service, container))
            self.reporter.log(f"service {service.name}: started {service.image}")
        joined = self._join(network)
        try:
            for service, container in self.started:
                self._wait_ready(service, container, network)
        finally:
            if joined is not None:
                _disconnect(self.docker, network, joined)

    def _join(self, network: str) -> Container | None:
        """Join the run's network while waiting, when this process runs in a container.

        The TCP probe dials a service's address on the run's private network, which only
        containers on that network reach. Left again as soon as the services are ready.
        """
        if not any(not service.ready for service, _ in self.started):
            return None
        me = own_container(self.docker)
        if me is None or network in (me.attrs["NetworkSettings"]["Networks"] or {}):
            return None
        try:
            self.docker.networks.get(network).connect(me)
        except APIError as exc:
            self.reporter.log(f"could not join {network} to probe services: "
                              f"{exc.explanation or exc}")
            return None
        return me

    def _wait_ready(self, service: ServiceSpec, container: Container, network: str) -> None:
        deadline = time.monotonic() + service.deadline
        container.reload()
        port = None if service.ready else first_exposed_port(container.attrs)
        if not service.ready and port is None:
            self.reporter.log(f"service {service.name}: no ready command and no exposed port; "
                              "taken as ready once running")
        attempts = 0
        while True:
            self.control.check()
            attempts += 1
            container.reload()
            if container.status not in ("running", "created"):
                self.log_tail(service, container)
                raise ServiceFailed(f"service {service.name} exited with code "
                                    f"{container.attrs['State'].get('ExitCode')} before it was "
                                    "ready")
            if self._is_ready(service, container, network, port):
                self.reporter.log(f"service {service.name}: ready")
                return
            if time.monotonic() > deadline:
                self.log_tail(service, container)
                what = f"`{service.ready}`" if service.ready else f"port {port}"
                raise ServiceFailed(f"service {service.name} was not ready within "
                                    f"{service.deadline:g}s (waited for {what}, "
                                    f"{attempts} attempts)")
            time.sleep(READY_POLL)

    def _is_ready(self, service: ServiceSpec, container: Container, network: str,
                  port: int | None) -> bool:
        if container.status != "running":
            return False
        if service.ready:
            try:
                result = container.exec_run(["sh", "-c", service.ready], demux=False)
            except APIError:
                return False
            return result.exit_code == 0
        if port is None:
            return True
        address = (container.attrs["NetworkSettings"]["Networks"].get(network) or {}).get(
            "IPAddress")
        if not address:
            return False
        try:
            with socket.create_connection((address, port), timeout=1):
                return True
        except OSError:
            return False

    def log_tail(self, service: ServiceSpec, container: Container, lines: int | str = 30) -> None:
        try:
            text = container.logs(tail=lines).decode("utf-8", errors="replace")
        except (APIError, NotFound):
            return
        for line in text.splitlines():
            self.reporter.log(f"[{service.name}] {line}")

    def keep_logs(self) -> None:
        """Every service's whole log, into the run log, before the containers go."""
        for service, container in self.started:
            self.reporter.log(f"── log of service {service.name}")
            self.log_tail(service, container, lines="all")


def _disconnect(client: docker.DockerClient, network: str, container: Container) -> None:
    try:
        client.networks.get(network).disconnect(container, force=True)
    except (NotFound, APIError):
        pass  # already gone with the network

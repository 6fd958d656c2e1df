"""The Docker engine connection, with a clear error when none answers."""

from __future__ import annotations

import socket
from enum import StrEnum
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container

from pipeline.errors import EngineUnavailable


class ContainerState(StrEnum):
    """The engine's word for where a container stands (`Container.status`), those we act on."""

    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"


def connect_docker(timeout: int = 120) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(f"no Docker engine answers ({exc}); start dockerd") from exc
    return client


def own_container(client: docker.DockerClient) -> Container | None:
    """The container this process runs in, when it runs in a container of this engine.

    Docker makes a container's hostname the start of its id unless it was given another
    one (the compose file leaves the worker's alone for this).
    """
    if not Path("/.dockerenv").exists():
        return None
    hostname = socket.gethostname()
    try:
        container = client.containers.get(hostname)
    except (NotFound, APIError):
        return None
    return container if container.id.startswith(hostname) else None

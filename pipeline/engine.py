"""The Docker engine connection, with a clear error when none answers."""

from __future__ import annotations

import docker
from docker.errors import DockerException

from pipeline.errors import EngineUnavailable


def connect_docker(timeout: int = 120) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(f"no Docker engine answers ({exc}); start dockerd") from exc
    return client

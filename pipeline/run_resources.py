"""What a run makes on the engine (step and service containers, its network) found by its
labels: stopped at once on a cancel, removed whatever state the run ended in."""

from __future__ import annotations

import docker
from docker.errors import APIError, NotFound
from docker.models.networks import Network

from pipeline.names import RUN_ROLES, role_of_labels, run_filters


def remove_run_resources(client: docker.DockerClient, project: str, run_id: str) -> None:
    """Remove the step and service containers and the network of a run, whatever its state."""
    for role in RUN_ROLES:
        for container in client.containers.list(
                all=True, filters={"label": run_filters(project, run_id, role)}):
            try:
                container.remove(force=True)
            except (NotFound, APIError):
                pass
    for network in client.networks.list(filters={"label": run_filters(project, run_id)}):
        remove_network(network)


def remove_network(network: Network) -> None:
    """Remove a run's network, first detaching what is still on it (a containerised worker
    that joined it to probe services and was lost before it left)."""
    try:
        network.reload()
        for container in network.containers:
            network.disconnect(container, force=True)
        network.remove()
    except (NotFound, APIError):
        pass


def kill_run_containers(client: docker.DockerClient, project: str, run_id: str) -> None:
    """Stop a run's steps and services at once (a cancel must take effect within seconds)."""
    for container in client.containers.list(filters={"label": run_filters(project, run_id)}):
        if role_of_labels(container.labels) in RUN_ROLES:
            try:
                container.kill()
            except (NotFound, APIError):
                pass

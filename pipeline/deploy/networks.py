"""The networks a project's app containers join: one private to the project (pure names in
pipeline/names.py; this is the thin engine side).

Every project's apps share a bridge of their own, `pushdock-<project>`, so another
project's containers, a run's test steps and plain containers (all on other bridges, which
the engine isolates from each other) cannot reach them. Caddy on the host reaches every
bridge's addresses; a Caddy or worker that runs in a container (the compose stack) sits on
the apps network and is connected to each project network here: those are the "edge".
"""

from __future__ import annotations

import docker
from docker.errors import APIError, NotFound
from docker.models.networks import Network

from pipeline.errors import DeployError
from pipeline.names import (
    LABEL_PROJECT,
    LABEL_ROLE,
    Role,
    project_network,
    project_network_filters,
    project_network_labels,
)


def ensure_project_network(client: docker.DockerClient, project: str, edge: str) -> str:
    """The project's network, made if missing, with this Pushdock's edge containers on it.

    Run on every deploy: an edge container that was recreated since is connected again.
    """
    name = project_network(project)
    found = client.networks.list(names=[name])
    network = next((n for n in found if n.name == name), None)
    if network is None:
        network = client.networks.create(name, driver="bridge", check_duplicate=True,
                                         labels=project_network_labels(project, edge))
    elif not _is_project_network(network, project):
        # Joining a network of that name made for something else (the apps network for a
        # project called `apps`, another project's run network) would undo the isolation.
        raise DeployError(f"the network {name} exists and is not {project}'s own: rename the "
                          f"project, or remove that network if nothing uses it")
    _connect_edges(client, network, edge)
    return name


def connect_edges_to_all(client: docker.DockerClient, edge: str) -> list[str]:
    """Every project network of this Pushdock, with the edge containers on it; the names of
    those an edge container was connected to.

    Run when a worker starts: a Caddy recreated since the last deploys (`docker compose
    down` and `up`, a new Caddy image) is on no project network, and could reach no app.
    """
    joined = []
    for name in project_networks(client, edge):
        try:
            network = client.networks.get(name)
        except NotFound:
            continue
        if _connect_edges(client, network, edge):
            joined.append(name)
    return joined


def _is_project_network(network: Network, project: str) -> bool:
    labels = network.attrs.get("Labels") or {}
    return (labels.get(LABEL_ROLE) == Role.PROJECT.value
            and labels.get(LABEL_PROJECT) == project)


def project_networks(client: docker.DockerClient, edge: str) -> list[str]:
    """The names of this Pushdock's project networks."""
    return [n.name for n in client.networks.list(
        filters={"label": project_network_filters(edge)})]


def _edges(client: docker.DockerClient, edge: str) -> list[str]:
    """The containers on the apps network that are not apps: Caddy and the workers."""
    try:
        network = client.networks.get(edge)
    except NotFound:
        return []
    containers = network.attrs.get("Containers") or {}
    edges = []
    for ident in containers:
        try:
            container = client.containers.get(ident)
        except NotFound:
            continue
        if container.labels.get(LABEL_ROLE) != Role.APP.value:
            edges.append(container.id)
    return edges


def _connect_edges(client: docker.DockerClient, network: Network, edge: str) -> bool:
    """Whether an edge container was connected (it was not on the network)."""
    network.reload()
    present = set(network.attrs.get("Containers") or {})
    connected = False
    for ident in _edges(client, edge):
        if ident in present:
            continue
        try:
            network.connect(ident)
            connected = True
        except APIError as exc:
            if "already exists" not in str(exc):
                raise
    return connected

"""The app containers of a project on the engine: finding, addressing, stopping, pruning."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline.deploy.networks import (
    connect_edges_to_all,
    ensure_project_network,
    project_networks,
)
from pipeline.deploy.plan import PORT_VARIABLE, STOP_TIMEOUT
from pipeline.errors import DeployError
from pipeline.model import Color
from pipeline.names import (
    LABEL_PROJECT,
    LABEL_RUN,
    LABEL_SHA,
    WEB,
    app_filters,
    apps_network_labels,
    color_of_labels,
    deployable,
    process_of_labels,
    project_filter,
    project_network,
    release_filters,
    replica_of_labels,
    stop_timeout_of_labels,
)
from pipeline.reporting import Reporter
from pipeline.upstream import Upstream


class Apps:
    def __init__(self, client: docker.DockerClient, network: str) -> None:
        self.docker = client
        self.network = network

    def containers(self, project: str | None = None) -> list[Container]:
        """App containers on this Pushdock's networks (another Pushdock's are not ours):
        its project networks, and the apps network where older deploys put them."""
        networks = ([self.network, project_network(project)] if project
                    else [self.network, *project_networks(self.docker, self.network)])
        return self.docker.containers.list(
            all=True, filters={"label": app_filters(project), "network": networks})

    def projects(self) -> set[str]:
        return {c.labels[LABEL_PROJECT] for c in self.containers() if LABEL_PROJECT in c.labels}

    def get(self, name: str) -> Container | None:
        try:
            return self.docker.containers.get(name)
        except NotFound:
            return None

    def ip(self, container: Container) -> str | None:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        own = project_network(container.labels.get(LABEL_PROJECT, ""))
        network = networks.get(own) or networks.get(self.network) or {}
        return network.get("IPAddress") or None

    def ensure_project_network(self, project: str) -> str:
        """The network the project's new containers join (DESIGN.md §9.3)."""
        return ensure_project_network(self.docker, project, self.network)

    def connect_edges(self) -> list[str]:
        """Caddy and the workers on every project network again (after they were recreated)."""
        return connect_edges_to_all(self.docker, self.network)

    def upstream(self, container: Container, port: int) -> Upstream:
        ip = self.ip(container)
        if not ip:
            raise DeployError(f"{container.name} has no address on its network")
        return Upstream(ip, port)

    def ensure_network(self) -> None:
        if not self.docker.networks.list(names=[self.network]):
            self.docker.networks.create(self.network, driver="bridge",
                                        labels=apps_network_labels())

    def remove(self, name: str) -> None:
        container = self.get(name)
        if container is not None:
            try:
                container.remove(force=True)
            except NotFound:
                pass

    def stop(self, container: Container, reporter: Reporter) -> None:
        """SIGTERM, then SIGKILL after the container's stop timeout; then remove it."""
        timeout = (stop_timeout_of_labels(container.labels)
                   or container.attrs.get("Config", {}).get("StopTimeout") or STOP_TIMEOUT)
        reporter.log(f"stopping {container.name} "
                     f"({container.labels.get(LABEL_SHA, '')[:7]}, SIGTERM, {timeout:g}s)")
        try:
            container.stop(timeout=int(timeout))
            container.remove(force=True)
        except NotFound:
            pass

    def stop_all_but(self, project: str, keep: Collection[str], reporter: Reporter) -> None:
        """Every app container of the project but those named in `keep` (a generation)."""
        for container in self.containers(project):
            if container.name not in keep:
                self.stop(container, reporter)

    # -- generations (DESIGN.md §9.2) -------------------------------------------------------
    def generation(self, project: str, of: Container) -> list[Container]:
        """The containers of the generation `of` belongs to: its color and run."""
        color, run = color_of(of), of.labels.get(LABEL_RUN)
        return sorted((c for c in self.containers(project)
                       if color_of(c) is color and c.labels.get(LABEL_RUN) == run),
                      key=member_order)

    def remove_releases(self, project: str) -> list[str]:
        """Release containers left by a worker that died during a release."""
        found = self.docker.containers.list(all=True,
                                            filters={"label": release_filters(project)})
        for container in found:
            self.remove(container.name)
        return [container.name for container in found]

    def prune_images(self, project: str, keep: int, in_use: Iterable[str],
                     reporter: Reporter) -> None:
        """Keep the project's `keep` newest images and those in `in_use`; other projects'
        images are never looked at."""
        used = set(in_use)
        images = self.docker.images.list(filters={"label": project_filter(project)})
        images.sort(key=lambda image: built_at(image.attrs), reverse=True)
        for image in images[keep:]:
            if used & set(image.tags):
                continue
            try:
                self.docker.images.remove(image.id, force=False, noprune=False)
                reporter.log(f"pruned {', '.join(image.tags) or image.short_id}")
            except APIError:
                pass  # a container still uses it; kept

    def available_images(self, project: str) -> set[str]:
        """The project's images that may go live (never a pull request's)."""
        images = self.docker.images.list(filters={"label": project_filter(project)})
        return {tag for image in images if deployable(image.labels) for tag in image.tags}

    def log_tail(self, container: Container, reporter: Reporter, lines: int = 20) -> None:
        try:
            tail = container.logs(tail=lines).decode("utf-8", errors="replace")
        except APIError:
            return
        for line in tail.splitlines():
            reporter.log(f"app: {line}")


def color_of(container: Container) -> Color | None:
    return color_of_labels(container.labels)


def process_of(container: Container) -> str:
    return process_of_labels(container.labels)


def is_web(container: Container) -> bool:
    return process_of(container) == WEB


def member_order(container: Container) -> tuple[bool, str, int]:
    """Web replicas first, then processes by name, each by replica."""
    return (not is_web(container), process_of(container), replica_of_labels(container.labels))


def env_port(container: Container) -> int | None:
    """The PORT Pushdock gave the app (set in every app container's environment)."""
    for item in container.attrs.get("Config", {}).get("Env") or ():
        name, _, value = item.partition("=")
        if name == PORT_VARIABLE and value.isdigit():
            return int(value)
    return None


def running(container: Container) -> bool:
    return bool(container.attrs.get("State", {}).get("Running"))


def death(container: Container) -> str | None:
    """Why the container is no longer running, or None while it runs."""
    try:
        container.reload()
    except NotFound:
        return "container removed"
    state = container.attrs["State"]
    if state.get("Running"):
        return None
    return f"exited with code {state.get('ExitCode')}"


def built_at(attrs: dict[str, object]) -> str:
    """When an image was last built here, sortable: its tag time, not its `Created`, which a
    build answered from the cache copies from the first build of the same content."""
    metadata = attrs.get("Metadata")
    tagged = metadata.get("LastTagTime") if isinstance(metadata, dict) else None
    stamp = str(tagged or "")
    if not stamp or stamp.startswith("0001-"):  # never tagged: the engine's zero time
        stamp = str(attrs.get("Created") or "")
    # RFC 3339 with the fraction's trailing zeros cut: pad it so text order is time order.
    head, _, fraction = stamp.removesuffix("Z").partition(".")
    return f"{head}.{fraction.ljust(9, '0')}"

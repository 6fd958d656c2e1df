"""Removing an app for good: what its deploys made, on the engine, in Caddy and in Redis.

Used for previews, whose app names (pipeline/names.py `preview_app`) nothing else carries:
every container, volume and network labelled or named with the app is its own, and its
project's app is never looked at. Images are shared with the project (a preview runs the
image its pull request's run built, `<project>:<sha>`): only those the project's own
deployments do not keep are removed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import docker
from docker.errors import APIError, NotFound

from pipeline.deploy.apps import Apps
from pipeline.deploy.router import CaddyRouter
from pipeline.names import project_filter, project_network
from pipeline.reporting import Reporter
from pipeline.store import LOCK_TTL, Store


@dataclass(frozen=True)
class Removed:
    """What one teardown removed, by name."""

    app: str
    containers: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    route: bool = False


class Teardown:
    def __init__(self, client: docker.DockerClient, store: Store, router: CaddyRouter,
                 network: str, reporter: Reporter, lock_ttl: float = LOCK_TTL) -> None:
        self.docker = client
        self.store = store
        self.router = router
        self.apps = Apps(client, network)
        self.reporter = reporter
        self.lock_ttl = lock_ttl

    def remove(self, app: str, keep_images: Collection[str] = ()) -> Removed:
        """Everything of `app` but the images named in `keep_images`, under its deploy lock
        (a deploy of it in progress finishes first)."""
        with self.store.locks.deploy(app, timeout=self.lock_ttl):
            images = {d.image for d in self.store.deployments.history(app, limit=100) if d.image}
            mark = self.store.deployments.in_progress(app)
            if mark is not None and mark.image:
                images.add(mark.image)
            route = app in self.router.routes()
            self.router.remove_route(app)  # the resolver's entry goes with it
            self.store.live.clear(app)
            containers = self._containers(app)
            volumes = self._volumes(app)
            self._network(app)
            self.store.deployments.forget(app)
        removed = Removed(app, containers, volumes,
                          self._images(sorted(images - set(keep_images))), route)
        self.reporter.log(f"{app}: removed {len(removed.containers)} containers, "
                          f"{len(removed.volumes)} volumes, {len(removed.images)} images"
                          + (", its route" if route else ""))
        return removed

    def _containers(self, app: str) -> tuple[str, ...]:
        """The app's generations (stopped as a deploy stops them), then anything else made
        for it (a release, accessories)."""
        names = []
        for container in self.apps.containers(app):
            self.apps.stop(container, self.reporter)
            names.append(container.name)
        for container in self.docker.containers.list(all=True,
                                                     filters={"label": project_filter(app)}):
            self.apps.remove(container.name)
            names.append(container.name)
        return tuple(names)

    def _volumes(self, app: str) -> tuple[str, ...]:
        names = []
        for volume in self.docker.volumes.list(filters={"label": project_filter(app)}):
            try:
                volume.remove(force=True)
                names.append(volume.name)
            except NotFound:
                pass
        return tuple(names)

    def _network(self, app: str) -> None:
        """Its own network, once the edge (a Caddy or worker in a container, connected to
        every project network) has left it."""
        name = project_network(app)
        for network in self.docker.networks.list(names=[name]):
            if network.name != name:
                continue
            try:
                network.reload()
                for ident in network.attrs.get("Containers") or {}:
                    network.disconnect(ident, force=True)
                network.remove()
            except NotFound:
                pass
            except APIError as exc:
                self.reporter.log(f"kept the network {name}: {exc.explanation or exc}")

    def _images(self, images: list[str]) -> tuple[str, ...]:
        removed = []
        for image in images:
            try:
                self.docker.images.remove(image, force=False, noprune=False)
                removed.append(image)
            except NotFound:
                pass
            except APIError as exc:  # another container (the project's own) still uses it
                self.reporter.log(f"kept {image}: {exc.explanation or exc}")
        return tuple(removed)

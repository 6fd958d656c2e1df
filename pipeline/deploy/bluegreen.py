"""The blue/green sequence of DESIGN.md §4, under a per-project lock.

Any failure before the switch leaves the old colour serving untouched; a failure of the
check through the proxy switches back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from pipeline.deploy.health import probe_http, wait_healthy
from pipeline.deploy.plan import (
    LABEL_COLOR,
    LABEL_PROJECT,
    LABEL_ROLE,
    STOP_TIMEOUT,
    app_container_kwargs,
    container_name,
)
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import DeployError, HealthCheckFailed, PushdockError
from pipeline.model import Color, Deployment, DeploySpec, LiveApp
from pipeline.reporting import Reporter
from pipeline.settings import Settings
from pipeline.store import Store


@dataclass(frozen=True)
class DeployRequest:
    project: str
    host: str
    image: str
    sha: str
    run_id: str
    trigger: str
    spec: DeploySpec
    secrets: dict[str, str]


class BlueGreen:
    def __init__(self, client: docker.DockerClient, store: Store, router: CaddyRouter,
                 settings: Settings, reporter: Reporter) -> None:
        self.docker = client
        self.store = store
        self.router = router
        self.settings = settings
        self.reporter = reporter

    # -- what is live -----------------------------------------------------------------------
    def _app_containers(self, project: str) -> list[Container]:
        return self.docker.containers.list(
            all=True, filters={"label": [f"{LABEL_PROJECT}={project}", f"{LABEL_ROLE}=app"]})

    def live_app(self, project: str) -> LiveApp | None:
        """The colour serving now: the record, if its container really runs."""
        record = self.store.live(project)
        if record is None:
            return None
        try:
            container = self.docker.containers.get(record.container)
        except NotFound:
            return None
        if container.status != "running" or container.labels.get(LABEL_COLOR) != record.color:
            return None
        return record

    def _upstream(self, container: Container, port: int) -> str:
        container.reload()
        network = container.attrs["NetworkSettings"]["Networks"].get(self.settings.apps_network)
        if not network or not network.get("IPAddress"):
            raise DeployError(f"{container.name} has no address on {self.settings.apps_network}")
        return f"{network['IPAddress']}:{port}"

    def _ensure_network(self) -> None:
        if not self.docker.networks.list(names=[self.settings.apps_network]):
            self.docker.networks.create(self.settings.apps_network, driver="bridge",
                                        labels={"pushdock.role": "apps"})

    def _remove(self, name: str) -> None:
        try:
            self.docker.containers.get(name).remove(force=True)
        except NotFound:
            pass

    # -- the sequence -----------------------------------------------------------------------
    def deploy(self, request: DeployRequest) -> Deployment:
        spec = request.spec
        lock_for = spec.health.deadline + spec.drain + 2 * STOP_TIMEOUT + 120
        with self.store.deploy_lock(request.project, timeout=lock_for):
            return self._deploy_locked(request)

    def _deploy_locked(self, request: DeployRequest) -> Deployment:
        started = time.time()
        spec = request.spec
        live = self.live_app(request.project)
        color = live.color.other if live else Color.BLUE
        name = container_name(request.project, color)
        self.reporter.log(
            f"live: {live.color.value} {live.sha[:7]}" if live else "live: nothing yet")

        # 2. start the idle colour (a leftover of an interrupted deploy is replaced)
        self._remove(name)
        self._ensure_network()
        kwargs = app_container_kwargs(
            project=request.project, color=color, image=request.image, sha=request.sha,
            run_id=request.run_id, spec=spec, secrets=request.secrets,
            network=self.settings.apps_network)
        try:
            container = self.docker.containers.run(**kwargs)
        except ImageNotFound:
            raise DeployError(f"image {request.image} is not on this engine") from None
        except APIError as exc:
            self._remove(name)
            raise DeployError(f"could not start {name}: {exc.explanation or exc}") from None
        self.reporter.log(f"started {name} from {request.image}")

        def fail(reason: str) -> Deployment:
            self._record(request, color, started, "failed", reason, "")
            raise DeployError(reason)

        # 3. health-check it directly
        try:
            upstream = self._upstream(container, spec.port)
            ip, port = upstream.rsplit(":", 1)
            wait_healthy(lambda: probe_http(ip, int(port), spec.health.path,
                                            spec.health.timeout),
                         spec.health, self.reporter, alive=lambda: _dead(container))
        except (HealthCheckFailed, DeployError) as exc:
            self._log_tail(container)
            self._remove(name)
            self.reporter.log(f"removed {name}; "
                              + (f"{live.color.value} keeps serving" if live else "nothing live"))
            self._record(request, color, started, "failed", str(exc), "")
            raise

        # 4. switch the route, then check through the proxy
        previous = self.router.upstream(request.project)
        try:
            self.router.set_route(request.project, request.host, upstream)
        except PushdockError as exc:
            self._remove(name)
            return fail(f"could not switch the proxy: {exc}")
        self.reporter.log(f"switched {request.host} to {color.value} ({upstream})")
        proxy_host, proxy_port = self.settings.proxy_address
        check = probe_http(proxy_host, proxy_port, spec.health.path, spec.health.timeout,
                           host_header=request.host)
        if not check.ok:
            if previous:
                self.router.set_route(request.project, request.host, previous)
            else:
                self.router.remove_route(request.project)
            self._remove(name)
            return fail(f"check through the proxy failed ({check.detail}); switched back")
        self.reporter.log(f"through the proxy: {check.detail}")

        # 5. record, drain, stop the old colour, prune
        self.store.set_live(LiveApp(project=request.project, color=color, sha=request.sha,
                                    run=request.run_id, container=name, upstream=upstream))
        deployment = self._record(request, color, started, "live", "", upstream)
        if live:
            if spec.drain:
                self.reporter.log(f"draining {live.color.value} for {spec.drain:g}s")
                time.sleep(spec.drain)
            self._stop_old(request.project, keep=name)
        self._prune_images(request.project, spec.keep, request.image)
        return deployment

    def _stop_old(self, project: str, keep: str) -> None:
        for container in self._app_containers(project):
            if container.name == keep:
                continue
            self.reporter.log(f"stopping {container.name}")
            try:
                container.stop(timeout=STOP_TIMEOUT)
                container.remove(force=True)
            except NotFound:
                pass

    def _prune_images(self, project: str, keep: int, current: str) -> None:
        images = self.docker.images.list(filters={"label": f"{LABEL_PROJECT}={project}"})
        images.sort(key=lambda image: image.attrs.get("Created", ""), reverse=True)
        for image in images[keep:]:
            if current in image.tags:
                continue
            try:
                self.docker.images.remove(image.id, force=False, noprune=False)
                self.reporter.log(f"pruned {', '.join(image.tags) or image.short_id}")
            except APIError:
                pass  # still used by a container; kept

    def _log_tail(self, container: Container, lines: int = 20) -> None:
        try:
            tail = container.logs(tail=lines).decode("utf-8", errors="replace")
        except APIError:
            return
        for line in tail.splitlines():
            self.reporter.log(f"app: {line}")

    def _record(self, request: DeployRequest, color: Color, started: float, result: str,
                reason: str, upstream: str) -> Deployment:
        deployment = Deployment(
            project=request.project, sha=request.sha, run=request.run_id, color=color,
            image=request.image, trigger=request.trigger, started=started,
            finished=time.time(), result=result, reason=reason, upstream=upstream)
        self.store.record_deployment(deployment)
        return deployment


def _dead(container: Container) -> str | None:
    try:
        container.reload()
    except NotFound:
        return "container removed"
    state = container.attrs["State"]
    if state.get("Running"):
        return None
    return f"exited with code {state.get('ExitCode')}"

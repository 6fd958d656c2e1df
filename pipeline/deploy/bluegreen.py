"""The blue/green sequence of DESIGN.md §4, under a per-project lock.

Any failure before the switch leaves the old color serving untouched; a failure of the
check through the proxy switches back. Each phase is written down ("deploying" mark,
live record, history) before the next starts, so a worker killed anywhere leaves what
Recovery needs to end with exactly one color serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import docker

from pipeline.config import AccessorySpec, DeploySpec, HealthSpec
from pipeline.deploy.accessories import Accessories
from pipeline.deploy.apps import Apps, death, running
from pipeline.deploy.generation import (
    Started,
    generation_networks,
    remove_all,
    run_release,
    start_all,
    wait_ready,
)
from pipeline.deploy.health import direct_probe, proxy_probe, wait_healthy
from pipeline.deploy.plan import generation_specs, release_container_spec
from pipeline.deploy.recovery import Recovery
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import DeployError, HealthCheckFailed, PushdockError
from pipeline.model import Color, Deployment, DeployResult, LiveApp, StageName, StageStatus
from pipeline.names import WEB, app_container, color_of_labels, process_of_labels
from pipeline.reporting import Reporter
from pipeline.settings import Settings
from pipeline.store import LOCK_TTL, Store
from pipeline.upstream import Upstream, join_upstreams

PROXY_CHECK_DEADLINE = 10.0  # seconds the check through the proxy may take at most


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
    # Whether the release command runs: not when a rollback puts an earlier image back (a
    # schema is not rolled back by running the old code's migrations).
    release: bool = True
    # From the project file: started (and waited for) first when missing, never restarted.
    accessories: tuple[AccessorySpec, ...] = ()


@dataclass(frozen=True)
class Attempt:
    """One deploy as it goes: each step takes it and returns the next."""

    request: DeployRequest
    live: LiveApp | None  # what serves now, and keeps serving until the switch
    color: Color  # the color this deploy starts
    name: str  # its first web container
    record: Deployment  # the history entry so far
    upstream: str = ""  # where the new color's web replicas listen, once healthy
    members: tuple[str, ...] = ()  # every container of the new generation, once started
    healthy: float = 0.0  # when it was
    previous: str | None = None  # the route's upstream before the switch


class HealthLog:
    """Passes lines on to the run's reporter and keeps them for the deployment record."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.lines: list[str] = []

    def stage(self, name: StageName, status: StageStatus) -> None:
        self.reporter.stage(name, status)

    def log(self, line: str) -> None:
        self.lines.append(line)
        self.reporter.log(line)


class BlueGreen:
    def __init__(self, client: docker.DockerClient, store: Store, router: CaddyRouter,
                 settings: Settings, reporter: Reporter, *, lock_ttl: float = LOCK_TTL) -> None:
        self.docker = client
        self.store = store
        self.router = router
        self.settings = settings
        self.reporter = reporter
        self.apps = Apps(client, settings.apps_network)
        self.recovery = Recovery(self.apps, store, router, reporter, lock_ttl)
        self.lock_ttl = lock_ttl

    def live_app(self, project: str) -> LiveApp | None:
        """The color serving now: the record, if its container really runs."""
        record = self.store.live.get(project)
        if record is None:
            return None
        container = self.apps.get(record.container)
        if container is None or not running(container) \
                or color_of_labels(container.labels) is not record.color:
            return None
        return record

    # -- the sequence -----------------------------------------------------------------------
    def deploy(self, request: DeployRequest) -> Deployment:
        with self.store.locks.deploy(request.project, timeout=self.lock_ttl):
            # A Caddy that restarted, or a worker that died in an earlier deploy, is put
            # right first, so this deploy starts from exactly one color serving.
            self.recovery.restore_routes()
            self.recovery.reconcile_locked(request.project, host=request.host)
            return self._deploy_locked(request)

    def _deploy_locked(self, request: DeployRequest) -> Deployment:
        attempt = self._begin(request)
        self._accessories(attempt)
        self._release(attempt)
        started = self._start(attempt)
        attempt = self._health_check(attempt, started)
        attempt = self._switch(attempt)
        self._check_through_proxy(attempt)
        return self._go_live(attempt)

    def _begin(self, request: DeployRequest) -> Attempt:
        """Which color goes next, written down as the deploy in progress."""
        live = self.live_app(request.project)
        color = live.color.other if live else Color.BLUE
        self.reporter.log(
            f"live: {live.color.value} {live.sha[:7]}" if live else "live: nothing yet")
        record = Deployment(
            project=request.project, sha=request.sha, run=request.run_id, color=color,
            image=request.image, trigger=request.trigger, started=time.time(), finished=None,
            result=DeployResult.RUNNING, host=request.host, spec=request.spec)
        self.store.deployments.begin(record)
        return Attempt(request, live, color, app_container(request.project, color), record)

    def _accessories(self, attempt: Attempt) -> None:
        """The project's accessories running and ready before the release needs them; one
        that is running is left as it is, whatever its definition says now."""
        request = attempt.request
        if not request.accessories:
            return
        network = self._networks(request.project)[0]
        try:
            Accessories(self.docker, self.reporter).ensure_all(
                request.project, request.accessories, network)
        except PushdockError as exc:  # an image that cannot be had, too
            live = attempt.live
            failure = f"{exc}; nothing new started, " + (
                f"{live.color.value} keeps serving" if live else "nothing live")
            self._finish(attempt.record, DeployResult.FAILED, failure)
            raise DeployError(failure) from None

    def _release(self, attempt: Attempt) -> None:
        """The release command, once, in a container of the new image; a failure fails the
        deploy before anything new starts."""
        request = attempt.request
        release = request.spec.release
        if release is None:
            return
        if not request.release:
            self.reporter.log("release: not run (a rollback keeps the schema as it is)")
            return
        networks = self._networks(request.project)
        spec = release_container_spec(
            project=request.project, color=attempt.color, image=request.image,
            sha=request.sha, run_id=request.run_id, spec=request.spec, release=release,
            secrets=request.secrets, network=networks[0])
        failure = run_release(self.docker, spec, networks, release.timeout, self.reporter)
        if failure is not None:
            live = attempt.live
            failure += "; nothing new started, " + (
                f"{live.color.value} keeps serving" if live else "nothing live")
            self._finish(attempt.record, DeployResult.FAILED, failure)
            raise DeployError(failure)

    def _networks(self, project: str) -> tuple[str, ...]:
        # Two Pushdocks' first deploys at once would each create the apps network (where
        # Caddy and the workers are found); a project's own network is made under its
        # deploy lock.
        with self.store.locks.engine(f"network:{self.settings.apps_network}"):
            self.apps.ensure_network()
        return generation_networks(self.apps.ensure_project_network(project))

    def _start(self, attempt: Attempt) -> list[Started]:
        """The whole new generation, started on the idle color (leftovers replaced)."""
        request = attempt.request
        for leftover in self.apps.containers(request.project):
            if color_of_labels(leftover.labels) is attempt.color:
                self.apps.remove(leftover.name)
        networks = self._networks(request.project)
        specs = generation_specs(
            project=request.project, color=attempt.color, image=request.image,
            sha=request.sha, run_id=request.run_id, spec=request.spec,
            secrets=request.secrets, network=networks[0])
        try:
            started = start_all(self.docker, specs, networks)
        except DeployError as exc:
            self._finish(attempt.record, DeployResult.FAILED, str(exc))
            raise
        self.reporter.log(f"started {', '.join(s.spec.name for s in started)} "
                          f"from {request.image}")
        return started

    def _health_check(self, attempt: Attempt, started: list[Started]) -> Attempt:
        """Every web replica healthy, checked directly, and every process ready; else the
        new generation is removed whole (the old one untouched)."""
        spec, live = attempt.request.spec, attempt.live
        health = HealthLog(self.reporter)
        processes = {process.name: process for process in spec.processes}
        upstreams: list[Upstream] = []
        current: Started | None = None
        try:
            for current in started:
                process = process_of_labels(current.spec.labels)
                if process == WEB:
                    upstreams.append(self._healthy(current, spec, health))
                else:
                    wait_ready(current, processes[process], health)
        except (HealthCheckFailed, DeployError) as exc:
            if current is not None:
                self.apps.log_tail(current.container, self.reporter)
            remove_all(self.docker, started)
            self.reporter.log("removed the new generation; "
                              + (f"{live.color.value} keeps serving" if live else "nothing live"))
            self._finish(attempt.record, DeployResult.FAILED, str(exc), health=health.lines)
            raise
        upstream = join_upstreams(upstreams)
        record = replace(attempt.record, upstream=upstream, health=tuple(health.lines))
        return replace(attempt, record=record, upstream=upstream, healthy=time.time(),
                       members=tuple(each.spec.name for each in started))

    def _healthy(self, started: Started, spec: DeploySpec, health: HealthLog) -> Upstream:
        container, name = started.container, started.spec.name
        upstream = self.apps.upstream(container, spec.port)
        label = spec.health.path or f"TCP port {spec.port}"
        health.log(f"health-checking {name} at {upstream.host}: {label}")
        probe = direct_probe(spec.health, upstream.host, upstream.port)
        wait_healthy(probe, spec.health, health, alive=lambda: death(container))
        return upstream

    def _switch(self, attempt: Attempt) -> Attempt:
        """The route to the new color; on a failure, back where it was."""
        request, upstream = attempt.request, attempt.upstream
        previous: str | None = None
        try:
            previous = self.router.upstream(request.project)
            if previous is None and self.router.add_route(request.project, request.host,
                                                          upstream):
                pass  # the first deploy: the new route is the switch
            else:
                self.router.set_route(request.project, request.host, upstream)
        except PushdockError as exc:
            reason = f"could not switch the proxy: {exc}"
            if self._route_back(request.project, previous):
                self._remove_members(attempt)
            else:  # it may serve already: reconciliation decides from the route
                reason += f"; {attempt.color.value} is left for reconciliation"
            self._finish(attempt.record, DeployResult.FAILED, reason)
            raise DeployError(reason) from None
        switched = time.time()
        record = replace(attempt.record, switched=switched)
        self.store.deployments.begin(record)  # from here on, a dead worker's green may serve
        self.reporter.log(f"switched {request.host} to {attempt.color.value} ({upstream}), "
                          f"{(switched - attempt.healthy) * 1000:.0f}ms after it was healthy")
        return replace(attempt, record=record, previous=previous)

    def _go_live(self, attempt: Attempt) -> Deployment:
        """Record the new color live, drain and stop the old one, prune old images."""
        request, live, spec = attempt.request, attempt.live, attempt.request.spec
        self.store.live.set(LiveApp(project=request.project, color=attempt.color,
                                    sha=request.sha, run=request.run_id, container=attempt.name,
                                    upstream=attempt.upstream, host=request.host))
        if live and spec.drain:
            self.reporter.log(f"draining {live.color.value} for {spec.drain:g}s")
            time.sleep(spec.drain)
        self.apps.stop_all_but(request.project, keep=attempt.members, reporter=self.reporter)
        final = self._finish(attempt.record, DeployResult.LIVE, "")
        # Images of recent deployments stay as rollback targets, however many newer images
        # other branches' runs have built since.
        recent = [d.image for d in self.store.deployments.history(request.project, limit=100)
                  if d.result == DeployResult.LIVE][:spec.keep]
        self.apps.prune_images(request.project, spec.keep, [request.image, *recent],
                               self.reporter)
        return final

    def _route_back(self, project: str, previous: str | None) -> bool:
        """After a failed switch: make sure the route points where it did before (half a
        switch, such as a new address without its new port, points nowhere useful)."""
        try:
            current = self.router.upstream(project)
            if previous and current != previous:
                self.router.switch(project, previous)
            elif not previous and current is not None:
                self.router.remove_route(project)
        except PushdockError:
            return False
        return True

    def _check_through_proxy(self, attempt: Attempt) -> None:
        """The new color as clients reach it; on a failure, the route goes back."""
        request, record, name = attempt.request, attempt.record, attempt.name
        previous, live = attempt.previous, attempt.live
        proxy_host, proxy_port = self.settings.proxy_address
        health = request.spec.health
        check = HealthSpec(path=health.path, interval=health.interval, timeout=health.timeout,
                           healthy_after=1, deadline=min(health.deadline, PROXY_CHECK_DEADLINE))
        log = HealthLog(self.reporter)
        log.log(f"checking {request.host} through the proxy at {proxy_host}:{proxy_port}")
        try:
            wait_healthy(proxy_probe(check, proxy_host, proxy_port, request.host), check, log)
            return
        except HealthCheckFailed as exc:
            failure = str(exc)
        if self._route_back(request.project, previous):
            back = (f"switched back to {live.color.value if live else previous}" if previous
                    else "route removed")
            self._remove_members(attempt)
        else:  # the route may still lead to it: reconciliation decides from the route
            back = f"could not switch back; {name} is left for reconciliation"
        self.reporter.log(back)
        reason = f"check through the proxy failed ({failure}); {back}"
        self._finish(record, DeployResult.FAILED, reason,
                     health=(*record.health, *log.lines))
        raise DeployError(reason)

    def _remove_members(self, attempt: Attempt) -> None:
        for name in attempt.members:
            self.apps.remove(name)

    def _finish(self, record: Deployment, result: DeployResult, reason: str,
                health: list[str] | tuple[str, ...] | None = None) -> Deployment:
        final = replace(record, finished=time.time(), result=result, reason=reason,
                        health=tuple(health) if health is not None else record.health)
        self.store.deployments.record(final)
        return final

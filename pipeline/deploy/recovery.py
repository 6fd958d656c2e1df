"""Putting things right after a crash: routes a restarted Caddy lost, and half-done deploys.

A worker killed anywhere in the blue/green sequence leaves at most two generations (the
colors' web replicas and processes) running, perhaps a release container, a route pointing
at one of them (or at none, if Caddy lost its config), a live record that may be one step
behind, and a "deploying" mark. The route decides: the generation whose web replicas it
points at serves, whole; the record is fixed to match and every other container is
stopped. Only when no route points at a running web replica does the record (then the
newest running web replica) decide, and the route is restored to its generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from docker.models.containers import Container

from pipeline.deploy.apps import Apps, color_of, env_port, is_web, running
from pipeline.deploy.plan import route_host
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import PushdockError
from pipeline.model import Deployment, DeployResult, LiveApp
from pipeline.names import LABEL_COLOR, LABEL_RUN, LABEL_SHA
from pipeline.reporting import Reporter
from pipeline.store import LOCK_TTL, Store
from pipeline.upstream import Upstream, join_upstreams, parse_upstreams


@dataclass(frozen=True)
class Reconciled:
    project: str
    live: LiveApp | None
    stopped: tuple[str, ...] = ()
    route_fixed: bool = False
    record_fixed: bool = False


class Recovery:
    def __init__(self, apps: Apps, store: Store, router: CaddyRouter, reporter: Reporter,
                 lock_ttl: float = LOCK_TTL) -> None:
        self.apps = apps
        self.store = store
        self.router = router
        self.reporter = reporter
        self.lock_ttl = lock_ttl

    # -- routes -----------------------------------------------------------------------------
    def restore_routes(self) -> list[str]:
        """Give Caddy back the route of every live project it does not have, and the resolver
        its answer where the route is there but the answer is not; returns those projects."""
        self.router.ensure_server()
        present = self.router.routes()
        restored = []
        for project in self.store.live.projects():
            live = self.store.live.get(project)
            if live is None or not live.host or present.get(project) is not None:
                continue
            upstream = self._current_upstream(live) or live.upstream
            if project in present:
                self.router.set_route(project, live.host, upstream)
            elif not self.router.add_route(project, live.host, upstream):
                continue
            self.reporter.log(f"restored the route of {project}: {live.host} → {upstream}")
            restored.append(project)
        return restored

    def _current_upstream(self, live: LiveApp) -> str | None:
        """The live web replicas' addresses now (an engine restart can change them)."""
        container = self.apps.get(live.container)
        recorded = parse_upstreams(live.upstream)
        if container is None or not running(container) or not recorded:
            return None
        ips = [ip for member in self.apps.generation(live.project, container)
               if is_web(member) and running(member) and (ip := self.apps.ip(member))]
        return join_upstreams(recorded[0].at(ip) for ip in ips) if ips else None

    # -- half-done deploys ------------------------------------------------------------------
    def reconcile(self, project: str, *, wait: float = 3600.0) -> Reconciled:
        with self.store.locks.deploy(project, timeout=self.lock_ttl, wait=wait):
            return self.reconcile_locked(project)

    def reconcile_all(self) -> list[Reconciled]:
        """Every project with a record, a mark or a container.

        A lock held longer than its time to live is held by a live deploy (which extends
        it, and reconciles first itself); that project is skipped. A dead holder's lock
        expires within that wait.
        """
        projects = (set(self.store.live.projects()) | self.apps.projects()
                    | set(self.store.deployments.in_progress_projects()))
        done = []
        for project in sorted(projects):
            try:
                done.append(self.reconcile(project, wait=self.lock_ttl + 1))
            except TimeoutError:
                self.reporter.log(f"{project}: a deploy holds its lock; left to it")
        return done

    def reconcile_locked(self, project: str, host: str = "") -> Reconciled:
        """Exactly one generation serving, the record and the route agreeing (lock held)."""
        for name in self.apps.remove_releases(project):
            self.reporter.log(f"{project}: removed {name}, left by an interrupted release")
        everything = self.apps.containers(project)
        addresses = {c.name: self.apps.ip(c) for c in everything if running(c)}
        web = [c for c in everything if addresses.get(c.name) and is_web(c)]
        record = self.store.live.get(project)
        mark = self.store.deployments.in_progress(project)
        now = self.router.route_now(project)
        # With the record lost and no deploy under way, the route still names the host: a
        # rebuilt record without it could not put the route back later.
        host = ((record.host if record else "") or (mark.host if mark else "") or host
                or route_host(now.config))
        route = now.upstream
        routed = {upstream.host for upstream in parse_upstreams(route)}

        serving = next((c for c in web if addresses[c.name] in routed), None)
        if serving is None and record is not None:
            serving = next((c for c in web if c.name == record.container), None)
        if serving is None and web:
            serving = max(web, key=lambda c: c.attrs.get("Created", ""))

        stopped: list[str] = []
        route_fixed = record_fixed = False
        live: LiveApp | None = None
        if serving is None:
            if record is not None:
                self.store.live.clear(project)
                record_fixed = True
                self.reporter.log(f"{project}: nothing runs; the live record is cleared")
        else:
            generation = self.apps.generation(project, serving)
            first = next(c for c in generation if is_web(c) and c.name in addresses)
            replicas = [c for c in generation if is_web(c) and addresses.get(c.name)]
            live, route_fixed, record_fixed = self._settle(
                project, first, replicas, record, route, host, addresses)
            keep = {c.name for c in generation}
            for container in everything:  # exited leftovers too
                if container.name not in keep:
                    self.apps.stop(container, self.reporter)
                    stopped.append(container.name)
        if mark is not None:
            self._close_mark(mark, live)
        return Reconciled(project, live, tuple(stopped), route_fixed, record_fixed)

    def _settle(self, project: str, serving: Container, replicas: list[Container],
                record: LiveApp | None, route: str | None, host: str,
                addresses: dict[str, str | None]) -> tuple[LiveApp, bool, bool]:
        known = parse_upstreams(route or (record.upstream if record else ""))
        port = env_port(serving) or (known[0].port if known else 0)
        upstream = join_upstreams(Upstream(addresses[c.name] or "", port) for c in replicas)
        route_fixed = False
        if route != upstream and host and replicas:
            self.router.set_route(project, host, upstream)
            route_fixed = True
            self.reporter.log(f"{project}: route pointed at {route or 'nothing'}; "
                              f"now {serving.name}'s generation ({upstream})")
        color = color_of(serving)
        if color is None:
            raise PushdockError(f"{serving.name} carries no valid {LABEL_COLOR} label")
        live = LiveApp(project=project, color=color, sha=serving.labels.get(LABEL_SHA, ""),
                       run=serving.labels.get(LABEL_RUN, ""), container=serving.name,
                       upstream=upstream, host=host)
        record_fixed = live != record
        if record_fixed:
            self.store.live.set(live)
            self.reporter.log(f"{project}: live record now {live.color.value} "
                              f"{live.sha[:7]}")
        return live, route_fixed, record_fixed

    def _close_mark(self, mark: Deployment, live: LiveApp | None) -> None:
        took = live is not None and live.color is mark.color and live.sha == mark.sha
        result = DeployResult.LIVE if took else DeployResult.INTERRUPTED
        serving = f"{live.color.value} {live.sha[:7]} serves" if live else "nothing serves"
        reason = ("the worker stopped after the switch; finished by reconciliation" if took
                  else f"the worker stopped during the deploy; {serving}")
        self.store.deployments.record(replace(mark, finished=time.time(), result=result,
                                             reason=reason,
                                             upstream=live.upstream if took and live else ""))
        self.reporter.log(f"{mark.project}: deploy of {mark.sha[:7]} (run {mark.run}) "
                          f"{result.value}: {reason}")

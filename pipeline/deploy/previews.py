"""Preview apps (DESIGN.md §9.4): a pull request's image deployed as an app of its own.

A preview goes through the same blue/green sequence as its project (health gate, release
command, processes, replicas), under the app name `<project>--pr<N>` (pipeline/names.py):
its containers, network, route and resolver name are its own, so nothing it does touches
the project's app, and crash recovery reconciles it as it does any app. Redis keeps a
record per preview (pipeline/records/previews.py) for the list, the limit and the expiry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import docker

from pipeline.config import AccessorySpec, DeploySpec
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.router import CaddyRouter
from pipeline.deploy.teardown import Removed, Teardown
from pipeline.errors import DeployError
from pipeline.model import DeployResult
from pipeline.names import DNS_LABEL, preview_app, project_filter
from pipeline.previews import Preview, expired, over_limit, preview_host
from pipeline.reporting import Reporter
from pipeline.settings import Settings
from pipeline.store import LOCK_TTL, Store

LIMIT_LOCK_TTL = 600.0  # seconds the limit's removals may take (each stops a generation)


@dataclass(frozen=True)
class PreviewRequest:
    project: str
    number: int  # the pull request's
    host: str  # `preview.host`, `{number}` not yet filled in
    limit: int
    image: str
    sha: str
    run_id: str
    trigger: str
    spec: DeploySpec
    secrets: dict[str, str]  # none for a fork's pull request
    # The project's definitions: the preview gets fresh ones of its own (own volumes).
    accessories: tuple[AccessorySpec, ...] = ()


class Previews:
    def __init__(self, client: docker.DockerClient, store: Store, router: CaddyRouter,
                 settings: Settings, reporter: Reporter, *, lock_ttl: float = LOCK_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        self.docker = client
        self.store = store
        self.router = router
        self.settings = settings
        self.reporter = reporter
        self.lock_ttl = lock_ttl
        self.clock = clock

    def deploy(self, request: PreviewRequest) -> Preview:
        """Deploy (or redeploy, blue/green) the pull request's preview; older previews go
        first when this one would pass the limit."""
        app = preview_app(request.project, request.number)
        if app is None:
            raise DeployError(
                f"no preview for pull request #{request.number}: the name "
                f"{request.project}--pr{request.number} is longer than a DNS label "
                f"({DNS_LABEL} characters); a shorter project name has previews")
        host = preview_host(request.host, request.number)
        with self.store.locks.engine(f"previews:{request.project}", timeout=LIMIT_LOCK_TTL):
            for old in over_limit(self.store.previews.of(request.project), request.limit,
                                  request.number):
                self.reporter.log(f"{request.limit} previews at most: removing the oldest, "
                                  f"pull request #{old.number} at {old.host}")
                self.remove(request.project, old.number)
            now = self.clock()
            known = self.store.previews.get(request.project, request.number)
            # Recorded before the deploy: a worker that dies in it leaves what to remove.
            preview = Preview(project=request.project, number=request.number, host=host,
                              sha=request.sha, run=request.run_id,
                              created=known.created if known else now, pushed=now)
            self.store.previews.put(preview)
        self.reporter.log(f"preview of pull request #{request.number}: {app} at {host}")
        BlueGreen(self.docker, self.store, self.router, self.settings, self.reporter,
                  lock_ttl=self.lock_ttl).deploy(
            DeployRequest(project=app, host=host, image=request.image, sha=request.sha,
                          run_id=request.run_id, trigger=request.trigger, spec=request.spec,
                          secrets=request.secrets, accessories=request.accessories))
        return preview

    def remove(self, project: str, number: int) -> Removed | None:
        """Everything the pull request's preview made; None when it had none."""
        app = preview_app(project, number)
        known = self.store.previews.get(project, number)
        if app is None or (known is None and not self._anything(app)):
            return None
        teardown = Teardown(self.docker, self.store, self.router, self.settings.apps_network,
                            self.reporter, self.lock_ttl)
        removed = teardown.remove(app, keep_images=self._kept_images(project, app))
        self.store.previews.remove(project, number)
        return removed

    def expire(self, project: str, expire: float) -> list[Removed]:
        """The project's previews with no push for `expire` seconds, removed."""
        gone = []
        for preview in expired(self.store.previews.of(project), expire, self.clock()):
            self.reporter.log(f"preview of pull request #{preview.number} had no push for "
                              f"{expire:g}s: removing it")
            removed = self.remove(project, preview.number)
            if removed is not None:
                gone.append(removed)
        return gone

    def _anything(self, app: str) -> bool:
        """Whether a preview with no record (a worker died before writing it, or Redis was
        reset) left something behind."""
        made = {"label": project_filter(app)}
        return bool(self.store.live.get(app) or self.store.deployments.history(app, limit=1)
                    or self.docker.containers.list(all=True, filters=made)
                    or self.docker.volumes.list(filters=made))

    def _kept_images(self, project: str, app: str) -> set[str]:
        """Images the project's app and its other previews may still run or roll back to."""
        kept: set[str] = set()
        others = [p.app for p in self.store.previews.of(project) if p.app != app]
        for owner in [project, *others]:
            kept |= {d.image for d in self.store.deployments.history(owner, limit=100)
                     if d.result == DeployResult.LIVE and d.image}
        return kept

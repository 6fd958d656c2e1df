"""Deploys without a build: an image already on the engine, through the same health-gated
blue/green sequence. Called by the CLI directly, and by the web service as RQ jobs."""

from __future__ import annotations

from collections.abc import Callable

import docker

from pipeline.config import DeploySpec, Project
from pipeline.deploy.apps import Apps, built_at
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.history import resolve_image, rollback_target, spec_for
from pipeline.deploy.router import CaddyRouter
from pipeline.engine import connect_docker
from pipeline.errors import ConfigError, PushdockError
from pipeline.model import (
    Deployment,
    DeployResult,
    PushEvent,
    Run,
    RunStatus,
    StageName,
    StageStatus,
    Trigger,
)
from pipeline.names import deployable, project_filter
from pipeline.projects import load_project
from pipeline.reporting import Masker, StoreReporter
from pipeline.settings import Settings
from pipeline.store import Store, connect
from workers.notify import notify_run
from workers.queue import job_connection, run_queue

Say = Callable[[str], None]


class _EchoReporter(StoreReporter):
    """Into the run's log, and to the terminal of whoever asked."""

    def __init__(self, store: Store, run_id: str, masker: Masker, say: Say | None) -> None:
        super().__init__(store, run_id, masker)
        self.say = say

    def log(self, line: str) -> None:
        super().log(line)
        if self.say:
            self.say(self.mask(line))


def deploy_sha(settings: Settings, project_name: str, sha: str | None = None, *,
               trigger: Trigger = Trigger.MANUAL, say: Say | None = None) -> Deployment:
    """Deploy the image of `sha` (a prefix is enough; None: the newest image built)."""
    store, project = _open(settings, project_name)
    client = connect_docker()
    try:
        images = _images_newest_first(client, project.name)
        image, full_sha = resolve_image(project.name, images, sha, images)
        history = store.deployments.history(project.name, limit=100)
        spec = spec_for(history, full_sha)
        # A sha that was live before had its release run then: putting it back is a rollback.
        released = any(d.sha == full_sha and d.result == DeployResult.LIVE for d in history)
        return _deploy(settings, store, client, project, image, full_sha, spec, trigger,
                       f"deploy {full_sha[:7]}", say, release=not released)
    finally:
        client.close()


def rollback(settings: Settings, project_name: str, to: str | None = None, *,
             say: Say | None = None) -> Deployment:
    """Back to `to` (a sha or prefix), else to the deployment before the live one."""
    store, project = _open(settings, project_name)
    client = connect_docker()
    try:
        available = Apps(client, settings.apps_network).available_images(project.name)
        live = store.live.get(project.name)
        target = rollback_target(store.deployments.history(project.name, limit=100),
                                 live.sha if live else None, available, to)
        # The release is not run: the schema stays as the newer release left it (a schema
        # is not rolled back by running the old code's migrations).
        return _deploy(settings, store, client, project, target.image, target.sha,
                       target.spec, Trigger.ROLLBACK, f"rollback to {target.sha[:7]}", say,
                       release=False)
    finally:
        client.close()


def execute_deploy(project_name: str, sha: str | None,
                   trigger: str = Trigger.MANUAL.value) -> str:
    """RQ entry point for `deploy_sha`."""
    return deploy_sha(Settings.from_env(), project_name, sha, trigger=Trigger(trigger)).result


def execute_rollback(project_name: str, to: str | None = None) -> str:
    """RQ entry point for `rollback`."""
    return rollback(Settings.from_env(), project_name, to).result


def _open(settings: Settings, project_name: str) -> tuple[Store, Project]:
    if not settings.redis_url:
        raise ConfigError("PUSHDOCK_REDIS_URL is not set; point it at the Redis of a running "
                          "Pushdock")
    project = load_project(settings.config_dir, project_name)
    if project.deploy.host is None:
        raise ConfigError(f"{project.path}: deploy.host is not set, so {project.name} is "
                          "never deployed")
    return Store(connect(settings.redis_url)), project


def _images_newest_first(client: docker.DockerClient, project: str) -> list[str]:
    images = [image for image in client.images.list(filters={"label": project_filter(project)})
              if deployable(image.labels)]
    images.sort(key=lambda image: built_at(image.attrs), reverse=True)
    return [tag for image in images for tag in image.tags]


def _deploy(settings: Settings, store: Store, client: docker.DockerClient, project: Project,
            image: str, sha: str, spec: DeploySpec | None, trigger: Trigger, message: str,
            say: Say | None, *, release: bool = True) -> Deployment:
    assert project.deploy.host is not None
    run = store.runs.create(PushEvent(project=project.name, branch=project.deploy.branch,
                                     sha=sha, message=message, author=trigger),
                           trigger=trigger, stages=(StageName.DEPLOY,))
    store.runs.start(run.id)
    reporter = _EchoReporter(store, run.id, Masker(project.secrets.values()), say)
    if spec is None:
        spec = project.pipeline.deploy if project.pipeline else DeploySpec()
        reporter.log("no deploy spec recorded for this project: using "
                     + ("the project file's pipeline" if project.pipeline else "the defaults"))
    reporter.stage(StageName.DEPLOY, StageStatus.RUNNING)
    router = CaddyRouter.from_settings(settings, store)
    try:
        deployment = BlueGreen(client, store, router, settings, reporter).deploy(
            DeployRequest(project=project.name, host=project.deploy.host, image=image,
                          sha=sha, run_id=run.id, trigger=trigger, spec=spec,
                          secrets=project.secrets, release=release,
                          accessories=project.accessories))
    except PushdockError as exc:
        reporter.stage(StageName.DEPLOY, StageStatus.FAILED)
        _told(settings, store, project, store.runs.finish(run.id, RunStatus.FAILED,
                                                          reporter.mask(str(exc))))
        raise
    except BaseException as exc:
        reporter.stage(StageName.DEPLOY, StageStatus.FAILED)
        store.runs.finish(run.id, RunStatus.ERROR, reporter.mask(f"{type(exc).__name__}: {exc}"))
        raise
    reporter.stage(StageName.DEPLOY, StageStatus.SUCCESS)
    _told(settings, store, project, store.runs.finish(run.id, RunStatus.SUCCESS))
    return deployment


def _told(settings: Settings, store: Store, project: Project, run: Run) -> None:
    """`deployed` or `deploy_failed` for the project's targets; never at the deploy's cost."""
    if not project.notify or not settings.redis_url:
        return
    try:
        notify_run(store, run_queue(job_connection(settings.redis_url)), project, run,
                   settings.base_url)
    except Exception as exc:
        store.logs.append(run.id, f"notifications not queued: {type(exc).__name__}: {exc}",
                          stage="notify")

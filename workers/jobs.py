"""What a worker executes: one run of one project."""

from __future__ import annotations

import time

from docker import DockerClient

from pipeline.commit_status import CommitState, state_of
from pipeline.config import Project
from pipeline.control import RunControl
from pipeline.engine import connect_docker
from pipeline.errors import PushdockError, UnknownProject
from pipeline.model import Approval, ApprovalNext, Run, RunStatus, StageName, StageStatus
from pipeline.projects import load_project
from pipeline.records.heartbeats import HEARTBEAT_TTL
from pipeline.reporting import Masker, StoreReporter
from pipeline.runner import Runner
from pipeline.settings import Settings
from pipeline.status_report import preview_link, report
from pipeline.store import Store, connect
from workers.notify import notify_run
from workers.queue import job_connection, run_queue


def _report(store: Store, settings: Settings, project: Project, run: Run,
            state: CommitState) -> None:
    if project.status_token:
        report(store, project, run.id, run.sha, state, settings.base_url,
               preview=preview_link(store, project.name, run, https=settings.proxy_https))


def _open() -> tuple[Settings, Store]:
    settings = Settings.from_env()
    if not settings.redis_url:
        raise RuntimeError("PUSHDOCK_REDIS_URL is not set for this worker")
    return settings, Store(connect(settings.redis_url))


def report_queued(run_id: str, project_name: str) -> None:
    """Queued just ahead of the run's job: the forge shows the commit pending at once."""
    settings, store = _open()
    try:
        project = load_project(settings.config_dir, project_name)
    except PushdockError:
        return  # the run's job reports the broken project file
    run = store.runs.get(run_id)
    if run is not None and run.status is RunStatus.QUEUED:
        _report(store, settings, project, run, CommitState.PENDING)


def execute_run(run_id: str, project_name: str) -> str:
    """The job of one run: its record and project file are read once, here."""
    settings, store = _open()
    run = store.runs.get(run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        return "skipped"  # cancelled or superseded while it waited
    stop = store.stops.get(run_id)
    if stop is not None:
        store.runs.finish(run_id, stop.status, stop.reason)
        return stop.status.value
    if not store.runs.start(run_id):
        return "skipped"  # cancelled between the two reads
    store.heartbeats.beat(run_id, HEARTBEAT_TTL)
    try:
        project = load_project(settings.config_dir, project_name)
        client = connect_docker()
    except PushdockError as exc:
        # The project file broke (or the engine left) after the push was accepted.
        store.runs.set_stage(run_id, StageName.CONFIG, StageStatus.FAILED)
        store.logs.append(run_id, str(exc), stage=StageName.CONFIG.value)
        finished = store.runs.finish(run_id, RunStatus.FAILED, str(exc))
        if not isinstance(exc, UnknownProject):
            _notify(settings, store, finished)
        return RunStatus.FAILED.value
    try:
        return _execute(settings, store, client, run, project).value
    finally:
        client.close()


def _execute(settings: Settings, store: Store, client: DockerClient, run: Run,
             project: Project) -> RunStatus:
    reporter = StoreReporter(store, run.id, Masker(project.secrets.values()))
    control = RunControl(timeout=project.timeout,
                         poll_stop=lambda: store.stops.get(run.id),
                         heartbeat=lambda: store.heartbeats.beat(run.id, HEARTBEAT_TTL))
    _report(store, settings, project, run, CommitState.RUNNING)
    final = CommitState.FAILURE  # also when the runner itself raises
    try:
        with control:
            outcome = Runner(settings, client, reporter, control, store).execute(run, project)
        reason = reporter.mask(outcome.reason)
        if outcome.status is RunStatus.WAITING:
            store.runs.wait(run.id, Approval(ApprovalNext.DEPLOY, reason, time.time()))
        else:
            store.runs.finish(run.id, outcome.status, reason)
        final = state_of(outcome.status)
        _notify(settings, store, store.runs.get(run.id), project)
        return outcome.status
    finally:
        # A pull request's run may have learnt its full sha at checkout (Bitbucket's).
        _report(store, settings, project, store.runs.get(run.id) or run, final)


def _notify(settings: Settings, store: Store, run: Run | None,
            project: Project | None = None) -> None:
    """Queue the run's notices; never at the run's expense."""
    if run is None or not settings.redis_url:
        return
    try:
        if project is None:
            project = load_project(settings.config_dir, run.project)
        queue = run_queue(job_connection(settings.redis_url))
        notify_run(store, queue, project, run, settings.base_url)
    except Exception as exc:  # the run has its outcome already; say why none was sent
        store.logs.append(run.id, f"notifications not queued: {type(exc).__name__}: {exc}",
                          stage="notify")

"""What a worker executes: one run of one project."""

from __future__ import annotations

from pipeline.commit_status import CommitState, state_of
from pipeline.control import RunControl
from pipeline.engine import connect_docker
from pipeline.errors import PushdockError
from pipeline.model import Project, RunStatus, StageName, StageStatus
from pipeline.projects import load_project
from pipeline.reporting import Masker, StoreReporter
from pipeline.runner import Runner
from pipeline.settings import Settings
from pipeline.status_report import report
from pipeline.store import Store, connect

HEARTBEAT_TTL = 30  # seconds without a beat before a running run counts as lost


def _report(store: Store, settings: Settings, project: Project, run_id: str,
            state: CommitState) -> None:
    if not project.status_token:
        return
    run = store.runs.get(run_id)
    if run is not None:
        report(store, project, run_id, run.sha, state, settings.base_url)


def report_queued(run_id: str, project_name: str) -> None:
    """Queued just ahead of the run's job: the forge shows the commit pending at once."""
    settings = Settings.from_env()
    if not settings.redis_url:
        raise RuntimeError("PUSHDOCK_REDIS_URL is not set for this worker")
    store = Store(connect(settings.redis_url))
    try:
        project = load_project(settings.config_dir, project_name)
    except PushdockError:
        return  # the run's job reports the broken project file
    run = store.runs.get(run_id)
    if run is not None and run.status is RunStatus.QUEUED:
        _report(store, settings, project, run_id, CommitState.PENDING)


def execute_run(run_id: str, project_name: str) -> str:
    settings = Settings.from_env()
    if not settings.redis_url:
        raise RuntimeError("PUSHDOCK_REDIS_URL is not set for this worker")
    store = Store(connect(settings.redis_url))
    run = store.runs.get(run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        return "skipped"  # cancelled or superseded while it waited
    stop = store.stops.get(run_id)
    if stop is not None:
        store.runs.finish(run_id, stop.status, stop.reason)
        return stop.status.value
    store.runs.start(run_id)
    store.heartbeats.beat(run_id, HEARTBEAT_TTL)
    try:
        project = load_project(settings.config_dir, project_name)
        client = connect_docker()
    except PushdockError as exc:
        # The project file broke (or the engine left) after the push was accepted.
        store.runs.set_stage(run_id, StageName.CONFIG, StageStatus.FAILED)
        store.logs.append(run_id, str(exc), stage=StageName.CONFIG.value)
        store.runs.finish(run_id, RunStatus.FAILED, str(exc))
        return RunStatus.FAILED.value
    reporter = StoreReporter(store, run_id, Masker(project.secrets.values()))
    control = RunControl(timeout=project.timeout,
                         poll_stop=lambda: store.stops.get(run_id),
                         heartbeat=lambda: store.heartbeats.beat(run_id, HEARTBEAT_TTL))
    _report(store, settings, project, run_id, CommitState.RUNNING)
    final = CommitState.FAILURE  # also when the runner itself raises
    try:
        with control:
            outcome = Runner(settings, client, reporter, control, store).execute(run, project)
        store.runs.finish(run_id, outcome.status, reporter.mask(outcome.reason))
        final = state_of(outcome.status)
        return outcome.status.value
    finally:
        client.close()
        _report(store, settings, project, run_id, final)

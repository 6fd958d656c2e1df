"""What a worker executes: one run of one project."""

from __future__ import annotations

from pipeline.engine import connect_docker
from pipeline.errors import PushdockError
from pipeline.model import RunStatus, StageName, StageStatus
from pipeline.projects import load_project
from pipeline.runner import Runner
from pipeline.settings import Settings
from pipeline.store import Store, connect


def execute_run(run_id: str, project_name: str) -> str:
    settings = Settings.from_env()
    if not settings.redis_url:
        raise RuntimeError("PUSHDOCK_REDIS_URL is not set for this worker")
    store = Store(connect(settings.redis_url))
    try:
        project = load_project(settings.config_dir, project_name)
        client = connect_docker()
    except PushdockError as exc:
        # The project file broke (or the engine left) after the push was accepted.
        store.start_run(run_id)
        store.set_stage(run_id, StageName.CONFIG, StageStatus.FAILED)
        store.append_log(run_id, str(exc), stage=StageName.CONFIG.value)
        store.finish_run(run_id, RunStatus.FAILED, str(exc))
        return RunStatus.FAILED.value
    try:
        return Runner(settings, store, client).execute(run_id, project).status.value
    finally:
        client.close()

"""Actions a person takes from the web service or the command line on runs."""

from __future__ import annotations

from rq import Queue

from pipeline.model import PushEvent, Run, RunStatus, StopRequest, Trigger
from pipeline.projects import load_project
from pipeline.settings import Settings
from pipeline.store import Store
from workers.errors import NoSuchRun, RunNotActive
from workers.queue import submit_run


def cancel_run(store: Store, run_id: str, reason: str = "cancelled",
               status: RunStatus = RunStatus.CANCELLED) -> Run:
    """Cancel a queued run at once; a running one is stopped by its worker within seconds."""
    run = store.runs.get(run_id)
    if run is None:
        raise RunNotActive(f"no run #{run_id}")
    if run.status.finished:
        raise RunNotActive(f"run #{run_id} has already finished ({run.status.value})")
    store.stops.request(run_id, StopRequest(status, reason))
    if run.status in (RunStatus.QUEUED, RunStatus.WAITING):
        return store.runs.finish(run_id, status, reason)
    return run


def cancel(store: Store, run_id: str, who: str = "") -> Run:
    return cancel_run(store, run_id, f"cancelled by {who}" if who else "cancelled")


def rerun(settings: Settings, store: Store, queue: Queue, run_id: str) -> Run:
    """The same commit of the same branch, again, as a new run."""
    run = store.runs.get(run_id)
    if run is None:
        raise NoSuchRun(f"no run #{run_id}")
    project = load_project(settings.config_dir, run.project)
    # A pull request's rerun is one too: fetched by its ref, a fork's without secrets.
    event = PushEvent(project=run.project, branch=run.branch, sha=run.sha, message=run.message,
                      author=run.author, ref=run.pr.ref if run.pr else "", pr=run.pr)
    return submit_run(store, queue, event, trigger=Trigger.rerun_of(run.id),
                      supersede=project.supersede, timeout=project.timeout)

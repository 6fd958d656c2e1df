"""Actions a person takes from the web service or the command line on runs."""

from __future__ import annotations

from rq import Queue

from pipeline.errors import PushdockError
from pipeline.model import PushEvent, Run, Trigger
from pipeline.projects import load_project
from pipeline.settings import Settings
from pipeline.store import Store
from workers.lifecycle import cancel_run
from workers.queue import submit_run


class NoSuchRun(PushdockError):
    """No run has this id."""


def cancel(store: Store, run_id: str, who: str = "") -> Run:
    return cancel_run(store, run_id, f"cancelled by {who}" if who else "cancelled")


def rerun(settings: Settings, store: Store, queue: Queue, run_id: str) -> Run:
    """The same commit of the same branch, again, as a new run."""
    run = store.get_run(run_id)
    if run is None:
        raise NoSuchRun(f"no run #{run_id}")
    project = load_project(settings.config_dir, run.project)
    event = PushEvent(project=run.project, branch=run.branch, sha=run.sha, message=run.message,
                      author=run.author)
    return submit_run(store, queue, event, trigger=Trigger.rerun_of(run.id),
                      supersede=project.supersede, timeout=project.timeout)

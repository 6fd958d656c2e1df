"""What scheduled runs and scheduled backups do alike as RQ jobs fired at their slots: open
what a firing needs and find its project, and drop the pending firings no schedule wants."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from rq import Queue
from rq.registry import ScheduledJobRegistry

from pipeline.config import Project
from pipeline.errors import PushdockError
from pipeline.projects import load_project
from pipeline.settings import Settings
from pipeline.store import Store, connect
from workers.queue import job_connection, run_queue

log = logging.getLogger("pushdock.firings")


@dataclass(frozen=True)
class Firing:
    settings: Settings
    store: Store
    queue: Queue
    project: Project


def open_firing(project_name: str, what: str) -> Firing | None:
    """None (logged) when the project's file was removed or broken since the firing was
    scheduled: the firing ends there, and the next sync drops its schedule."""
    settings = Settings.from_env()
    assert settings.redis_url
    store = Store(connect(settings.redis_url))
    queue = run_queue(job_connection(settings.redis_url))
    try:
        project = load_project(settings.config_dir, project_name)
    except PushdockError as exc:
        log.warning("%s of %s: %s", what, project_name, exc)
        return None
    return Firing(settings, store, queue, project)


def drop_unwanted(queue: Queue, pending: Iterable[str], wanted: set[str]) -> None:
    """Remove the pending firings whose id starts with none of the `wanted` prefixes."""
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in pending:
        if not any(job_id.startswith(prefix) for prefix in wanted):
            registry.remove(job_id, delete_job=True)

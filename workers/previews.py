"""Preview apps from the worker side: removing one (a closed or merged pull request, or a
person), and the periodic check of `expire`.

The check is an RQ job scheduled for the next slot of EXPIRY_INTERVAL, with an id made of
the slot, so every worker that asks for it asks for the same job; RQ's scheduler (one
worker at a time holds its lock) moves it to the queue when due, and the job schedules the
next one, as schedule firings do (workers/schedules.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rq import Queue
from rq.registry import ScheduledJobRegistry

from pipeline.deploy.previews import Previews
from pipeline.deploy.router import CaddyRouter
from pipeline.deploy.teardown import Removed
from pipeline.engine import connect_docker
from pipeline.errors import ConfigError
from pipeline.job_names import PREVIEW_EXPIRY_JOB
from pipeline.projects import load_projects
from pipeline.settings import Settings
from pipeline.store import Store, connect
from workers.queue import enqueue_preview_expiry, job_connection, run_queue

EXPIRY_INTERVAL = 300  # seconds between two checks of the previews' `expire`
log = logging.getLogger("pushdock.previews")
Say = Callable[[str], None]


class _Say:
    def __init__(self, say: Say) -> None:
        self.say = say

    def log(self, line: str) -> None:
        self.say(line)

    def stage(self, *_: object) -> None:
        pass


@contextmanager
def _previews(settings: Settings, say: Say) -> Iterator[Previews]:
    if not settings.redis_url:
        raise ConfigError("PUSHDOCK_REDIS_URL is not set; point it at the Redis of a running "
                          "Pushdock")
    store = Store(connect(settings.redis_url))
    client = connect_docker()
    try:
        yield Previews(client, store, CaddyRouter.from_settings(settings, store), settings,
                       _Say(say))
    finally:
        client.close()


def remove_preview(settings: Settings, project_name: str, number: int,
                   say: Say = log.info) -> Removed | None:
    """Everything the pull request's preview made; None when it had none."""
    with _previews(settings, say) as previews:
        return previews.remove(project_name, number)


def execute_remove_preview(project_name: str, number: int) -> str:
    """RQ entry point for `remove_preview` (a pull request closed or merged)."""
    removed = remove_preview(Settings.from_env(), project_name, number)
    return f"removed {removed.app}" if removed else "no preview"


def expire_previews(settings: Settings, say: Say = log.info) -> list[Removed]:
    """Every project's previews with no push for its `preview.expire`, removed."""
    projects, _ = load_projects(settings.config_dir)
    wanted = [(p.name, p.pull_requests.preview.expire) for p in projects
              if p.pull_requests is not None and p.pull_requests.preview is not None]
    if not wanted:
        return []
    with _previews(settings, say) as previews:
        return [removed for name, expire in wanted
                for removed in previews.expire(name, expire)]


def expire_job(slot: int) -> str:
    """RQ job: schedules the next check, then removes the previews that expired."""
    settings = Settings.from_env()
    assert settings.redis_url
    enqueue_preview_expiry(run_queue(job_connection(settings.redis_url)),
                           next_check(time.time()))
    removed = expire_previews(settings)
    return f"removed {', '.join(r.app for r in removed)}" if removed else "none expired"


def next_check(now: float) -> int:
    return (int(now) // EXPIRY_INTERVAL + 1) * EXPIRY_INTERVAL


def sync_expiry(queue: Queue, now: float | None = None) -> str | None:
    """Make sure an expiry check is pending; the id of the one scheduled here, if any."""
    scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
    if any(job_id.startswith(PREVIEW_EXPIRY_JOB)
           for job_id in [*scheduled, *queue.get_job_ids()]):
        return None
    return enqueue_preview_expiry(queue, next_check(time.time() if now is None else now)).id


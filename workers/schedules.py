"""Scheduled runs, fired by RQ's own scheduler.

Each schedule has one pending firing at a time: an RQ job scheduled (`enqueue_at`) for its
next slot, with an id made of the project, the schedule and the slot, so every worker that
asks for it asks for the same job. One worker at a time holds RQ's scheduler lock and
moves due jobs to the queue; a firing claims its slot in Redis (ScheduleMarks) before it
queues the run, so a slot runs once whatever runs twice. A firing whose time passed while
Pushdock was down is still in RQ's registry and fires once when it comes back; the next one
is scheduled from then, so the missed slots in between do not pile up."""

from __future__ import annotations

import logging
import time

from rq import Queue
from rq.registry import ScheduledJobRegistry

from pipeline.config import Project
from pipeline.job_names import SCHEDULE_JOB, schedule_job_prefix
from pipeline.model import PushEvent, Run, StageName, StageStatus, Trigger
from pipeline.schedules import find, next_slot, schedule_id
from pipeline.settings import Settings
from pipeline.store import Store
from workers.firings import drop_unwanted, open_firing
from workers.queue import enqueue_schedule, submit_run

log = logging.getLogger("pushdock.schedules")


class _Quiet:
    """Fetching a branch head has no run to log into yet."""

    def stage(self, name: StageName, status: StageStatus) -> None:
        pass

    def log(self, line: str) -> None:
        log.debug("%s", line)


def _pending_ids(queue: Queue) -> set[str]:
    """Ids of schedule firings not run yet: scheduled, or moved to the queue."""
    scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
    return {job_id for job_id in [*scheduled, *queue.get_job_ids()]
            if job_id.startswith(SCHEDULE_JOB)}


def sync(queue: Queue, projects: list[Project], now: float | None = None) -> list[str]:
    """Give each schedule of `projects` its pending firing, and drop the firings of
    schedules no project has any more. Safe to call from any number of processes at once.
    Returns the ids of the firings it scheduled."""
    now = time.time() if now is None else now
    pending = _pending_ids(queue)
    wanted = {schedule_job_prefix(p.name, schedule_id(s)) for p in projects
              for s in p.schedules}
    made = []
    for project in projects:
        for schedule in project.schedules:
            prefix = schedule_job_prefix(project.name, schedule_id(schedule))
            if not any(job_id.startswith(prefix) for job_id in pending):
                job = enqueue_schedule(queue, project.name, schedule_id(schedule),
                                       next_slot(schedule.cron, now))
                made.append(job.id)
    drop_unwanted(queue, pending, wanted)
    return made


def fire(project_name: str, ident: str, slot: int) -> str:
    """RQ job: one firing. Queues the run of the branch's head (once per slot), then
    schedules the next firing after now."""
    firing = open_firing(project_name, f"schedule {ident}")
    if firing is None:
        return "no project"
    schedule = find(firing.project, ident)
    if schedule is None:
        return "schedule gone"  # removed from the project file since it was scheduled
    enqueue_schedule(firing.queue, firing.project.name, ident,
                     next_slot(schedule.cron, time.time()))
    if not firing.store.schedules.claim(firing.project.name, ident, slot):
        return "fired already"
    run = queue_scheduled_run(firing.settings, firing.store, firing.queue, firing.project,
                              schedule.branch, schedule.deploy, schedule.cron)
    return f"run {run.id}"


def queue_scheduled_run(settings: Settings, store: Store, queue: Queue, project: Project,
                        branch: str, deploy: bool, cron: str) -> Run:
    from pipeline.source import Sources  # git: loaded by the work horse that fires, only

    head = Sources(settings.data_dir).branch_head(project, branch, _Quiet())
    event = PushEvent(project=project.name, branch=branch, sha=head.hexsha,
                      message=str(head.summary), author=f"schedule {cron}")
    return submit_run(store, queue, event, trigger=Trigger.SCHEDULE,
                      supersede=project.supersede, timeout=project.timeout, deploy=deploy)

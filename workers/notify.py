"""Notifications as queued jobs: each target's notice is a small job of its own, with a
timeout and a few retries, so a target that hangs or refuses never fails nor delays a run.
Jobs carry the target's place in the project file, never its URL (it may hold secrets): the
URL is read from the project file when the job sends."""

from __future__ import annotations

from rq import Queue, Retry, get_current_job
from rq.job import Job

from pipeline.config import Project
from pipeline.errors import PushdockError
from pipeline.model import Run
from pipeline.notifications import (
    Notice,
    previous_verdict,
    run_events,
    run_notice,
    send,
    target_name,
    targets_for,
)
from pipeline.projects import load_project
from pipeline.settings import Settings
from pipeline.store import Store, connect
from workers.errors import NotDelivered

JOB_TIMEOUT = 60  # RQ's limit on one attempt; Apprise's own timeouts end it sooner
RETRIES = Retry(max=3, interval=[10, 30, 60])
RESULT_TTL = 24 * 3600
_LOOK_BACK = 50  # runs of the project searched for the branch's previous verdict


def notify(queue: Queue, project: Project, notice: Notice) -> list[Job]:
    """Queue `notice` for each of the project's targets that listen to its event. The one
    call for anything that has something to tell (a run, a deploy, a backup)."""
    jobs = []
    for index, target in targets_for(project, notice.event):
        jobs.append(queue.enqueue(
            "workers.notify.deliver", project.name, index, notice.to_job(),
            job_timeout=JOB_TIMEOUT, retry=RETRIES, result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL, at_front=True,
            description=f"{notice.event.value} notice of {project.name} to "
                        f"{target_name(index, target)}"))
    return jobs


def notify_run(store: Store, queue: Queue, project: Project, run: Run,
               base_url: str) -> list[Job]:
    """The notices of a run that has just finished, or started to wait."""
    if not project.notify:
        return []
    previous = previous_verdict(run, store.runs.list(run.project, limit=_LOOK_BACK))
    jobs = []
    for event in run_events(run, previous):
        jobs.extend(notify(queue, project, run_notice(run, event, base_url)))
    return jobs


def deliver(project_name: str, index: int, notice_data: dict[str, object]) -> str:
    """RQ job: send one notice to one target; a failure is noted in the run's log and
    raised, so that RQ tries again (RETRIES)."""
    settings = Settings.from_env()
    notice = Notice.from_job(notice_data)
    store = Store(connect(settings.redis_url)) if settings.redis_url else None
    try:
        project = load_project(settings.config_dir, project_name)
    except PushdockError as exc:
        _note(store, notice, f"notification not sent: {exc}")
        return "no project"
    if index >= len(project.notify) or notice.event.value not in project.notify[index].on:
        return "target gone"  # the project file changed since the notice was queued
    target = project.notify[index]
    name = target_name(index, target)
    if send(target.url, notice):
        _note(store, notice, f"notification {notice.event.value} sent to {name}")
        return "sent"
    job = get_current_job()
    left = job.retries_left if job is not None and job.retries_left else 0
    then = f"trying again ({left} more)" if left else "giving up"
    _note(store, notice, f"notification {notice.event.value} to {name} failed: {then}")
    raise NotDelivered(f"{name} did not take the {notice.event.value} notice")


def _note(store: Store | None, notice: Notice, line: str) -> None:
    if store is not None and notice.run:
        store.logs.append(notice.run, line, stage="notify")





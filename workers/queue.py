"""Turning a push into a recorded, queued run."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job

from pipeline.job_names import (
    approved_run_job_id,
    backup_job_id,
    preview_expiry_job_id,
    preview_removal_job_id,
    run_job_id,
    schedule_job_id,
    status_job_id,
)
from pipeline.model import RUN_STAGES, Approval, PushEvent, Run, Trigger
from pipeline.store import Store

QUEUE_NAME = "pushdock"
RUN_TIMEOUT_MARGIN = 600  # RQ's own limit sits above the run's timeout: it only guards bugs
RESULT_TTL = 24 * 3600
DEPLOY_JOB_TIMEOUT = 3600  # RQ's own limit; the deploy's health deadline ends it far sooner


def job_connection(url: str) -> redis.Redis:
    """RQ stores pickled bytes, so its connection must not decode responses."""
    return redis.Redis.from_url(url)


def run_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def submit_run(store: Store, queue: Queue, event: PushEvent, *, trigger: str = Trigger.PUSH,
               supersede: bool = False, timeout: float = 3600.0, report_status: bool = False,
               run_id: str | None = None, deploy: bool = True,
               approval: Approval | None = None) -> Run:
    """Record a queued run and enqueue its job, in one Redis transaction: both or neither.
    With `approval`, the run waits for a person instead, and nothing is enqueued until one
    approves it (workers/approvals.py).

    With report_status, a small job ahead of the queue tells the forge the commit is pending,
    so the webhook's answer never waits on the forge's API. With `supersede`, older queued or
    running runs of the same branch are superseded, in the same transaction.
    """

    def enqueue(pipe: redis.client.Pipeline, run: Run) -> None:
        if approval is not None:
            return
        if report_status:
            queue.enqueue("workers.jobs.report_queued", run.id, run.project, at_front=True,
                          job_id=status_job_id(run.id), job_timeout=60, result_ttl=RESULT_TTL,
                          failure_ttl=RESULT_TTL, description=f"pending status of run {run.id}",
                          pipeline=pipe)
        queue.enqueue("workers.jobs.execute_run", run.id, run.project, job_id=run_job_id(run.id),
                      job_timeout=timeout + RUN_TIMEOUT_MARGIN, result_ttl=RESULT_TTL,
                      failure_ttl=7 * RESULT_TTL, description=f"run {run.id} of {run.project}",
                      pipeline=pipe)

    return store.runs.create(event, trigger=trigger, stages=RUN_STAGES, along=enqueue,
                            run_id=run_id, supersede=supersede, deploy=deploy,
                            approval=approval)


def enqueue_deploy(queue: Queue, project_name: str, sha: str | None,
                   trigger: Trigger = Trigger.MANUAL) -> Job:
    """For the web service: a deploy of a built image, run by a worker."""
    # The job carries the plain value, so queued jobs outlive a change of the enum.
    return queue.enqueue("workers.deploys.execute_deploy", project_name, sha,
                         Trigger(trigger).value,
                         job_timeout=DEPLOY_JOB_TIMEOUT, result_ttl=RESULT_TTL,
                         description=f"deploy {sha or 'newest image'} of {project_name}")


def enqueue_rollback(queue: Queue, project_name: str, to: str | None = None) -> Job:
    """For the web service: a rollback, run by a worker."""
    return queue.enqueue("workers.deploys.execute_rollback", project_name, to,
                         job_timeout=DEPLOY_JOB_TIMEOUT, result_ttl=RESULT_TTL,
                         description=f"rollback of {project_name}")


def enqueue_approved(queue: Queue, run: Run, timeout: float = 3600.0) -> Job:
    """The job that takes a run on once it is approved: the same job a run starts with,
    which reads the approval from the record (see Runner)."""
    return queue.enqueue("workers.jobs.execute_run", run.id, run.project,
                         job_id=approved_run_job_id(run.id),
                         job_timeout=timeout + RUN_TIMEOUT_MARGIN, result_ttl=RESULT_TTL,
                         failure_ttl=7 * RESULT_TTL,
                         description=f"run {run.id} of {run.project}, approved")


def enqueue_schedule(queue: Queue, project: str, schedule: str, slot: int) -> Job:
    """One firing of a schedule, left to RQ's scheduler until `slot`. Its id is the same for
    every process that asks, so asking twice schedules it once."""
    return queue.enqueue_at(datetime.fromtimestamp(slot, UTC), "workers.schedules.fire",
                            project, schedule, slot,
                            job_id=schedule_job_id(project, schedule, slot), job_timeout=600,
                            result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, at_front=True,
                            description=f"schedule {schedule} of {project} at {slot}")


def enqueue_preview_removal(queue: Queue, project: str, number: int) -> Job:
    """A closed or merged pull request's preview, removed by a worker (the web service never
    waits on the engine). One job per pull request: asking twice removes once."""
    return queue.enqueue("workers.previews.execute_remove_preview", project, number,
                         job_id=preview_removal_job_id(project, number),
                         job_timeout=DEPLOY_JOB_TIMEOUT, result_ttl=RESULT_TTL,
                         failure_ttl=RESULT_TTL,
                         description=f"remove the preview of {project} #{number}")


def enqueue_preview_expiry(queue: Queue, slot: int) -> Job:
    """The next check of the previews' `expire`, left to RQ's scheduler until `slot`."""
    return queue.enqueue_at(datetime.fromtimestamp(slot, UTC), "workers.previews.expire_job",
                            slot, job_id=preview_expiry_job_id(slot),
                            job_timeout=DEPLOY_JOB_TIMEOUT, result_ttl=RESULT_TTL,
                            failure_ttl=RESULT_TTL, description=f"preview expiry at {slot}")


BACKUP_JOB_MARGIN = 120  # RQ's own limit sits above the backup's timeout: it only guards bugs


def enqueue_backup(queue: Queue, project: str, accessory: str, every: float, slot: int,
                   timeout: float) -> Job:
    """One scheduled backup of an accessory, left to RQ's scheduler until `slot`; the same
    id for every process that asks."""
    return queue.enqueue_at(datetime.fromtimestamp(slot, UTC), "workers.backups.fire",
                            project, accessory, slot,
                            job_id=backup_job_id(project, accessory, every, slot),
                            job_timeout=timeout + BACKUP_JOB_MARGIN, result_ttl=RESULT_TTL,
                            failure_ttl=RESULT_TTL,
                            description=f"backup of {accessory} of {project} at {slot}")

"""Turning a push into a recorded, queued run."""

from __future__ import annotations

import redis
from rq import Queue

from pipeline.model import PushEvent, Run, Trigger
from pipeline.names import run_job_id, status_job_id
from pipeline.runner import RUN_STAGES
from pipeline.store import Store

QUEUE_NAME = "pushdock"
RUN_TIMEOUT_MARGIN = 600  # RQ's own limit sits above the run's timeout: it only guards bugs
RESULT_TTL = 24 * 3600


def job_connection(url: str) -> redis.Redis:
    """RQ stores pickled bytes, so its connection must not decode responses."""
    return redis.Redis.from_url(url)


def run_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def submit_run(store: Store, queue: Queue, event: PushEvent, *, trigger: str = Trigger.PUSH,
               supersede: bool = False, timeout: float = 3600.0, report_status: bool = False,
               run_id: str | None = None) -> Run:
    """Record a queued run and enqueue its job, in one Redis transaction: both or neither.

    With report_status, a small job ahead of the queue tells the forge the commit is pending,
    so the webhook's answer never waits on the forge's API. With `supersede`, older queued or
    running runs of the same branch are superseded, in the same transaction.
    """

    def enqueue(pipe: redis.client.Pipeline, run: Run) -> None:
        if report_status:
            queue.enqueue("workers.jobs.report_queued", run.id, run.project, at_front=True,
                          job_id=status_job_id(run.id), job_timeout=60, result_ttl=RESULT_TTL,
                          failure_ttl=RESULT_TTL, description=f"pending status of run {run.id}",
                          pipeline=pipe)
        queue.enqueue("workers.jobs.execute_run", run.id, run.project, job_id=run_job_id(run.id),
                      job_timeout=timeout + RUN_TIMEOUT_MARGIN, result_ttl=RESULT_TTL,
                      failure_ttl=7 * RESULT_TTL, description=f"run {run.id} of {run.project}",
                      pipeline=pipe)

    return store.create_run(event, trigger=trigger, stages=RUN_STAGES, along=enqueue,
                            run_id=run_id, supersede=supersede)

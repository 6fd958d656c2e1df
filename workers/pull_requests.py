"""Pull requests: which ones run, how a fork's run waits for a person, and what a closed one
ends. The run itself is a run like any other; the runner keeps secrets from a fork's
(pipeline/pull_requests.py) and never deploys a pull request's to `deploy.host`."""

from __future__ import annotations

import logging
import time

from rq import Queue

from pipeline.config import Project
from pipeline.model import (
    Approval,
    ApprovalNext,
    ForkPolicy,
    PullRequest,
    PullRequestClosed,
    PushEvent,
    Run,
    Trigger,
)
from pipeline.store import Store
from workers.actions import cancel_run
from workers.approvals import supersede_waiting
from workers.errors import RunNotActive
from workers.notify import notify_run
from workers.queue import enqueue_preview_removal, submit_run

PULL_REQUESTS_OFF = "pull requests are off"
FORK_IGNORED = "pull request from a fork (forks: ignore)"
FORK_WAITS = "waiting for approval: pull request from a fork"

log = logging.getLogger(__name__)


def ignore_reason(project: Project, pr: PullRequest) -> str | None:
    """Why a pull request of this project runs nothing, or None."""
    if project.pull_requests is None:
        return PULL_REQUESTS_OFF
    if pr.fork and project.pull_requests.forks is ForkPolicy.IGNORE:
        return FORK_IGNORED
    return None


def submit_pull_request(store: Store, queue: Queue, project: Project, event: PushEvent, *,
                        run_id: str | None = None, base_url: str = "") -> Run:
    """A run of the pull request's head; a fork's waits for approval with `forks: approve`.
    A newer run of a pull request supersedes its older ones, waiting ones included."""
    assert event.pr is not None and project.pull_requests is not None
    approval = None
    if event.pr.fork and project.pull_requests.forks is ForkPolicy.APPROVE:
        approval = Approval(ApprovalNext.RUN, FORK_WAITS, time.time())
    run = submit_run(store, queue, event, trigger=Trigger.PULL_REQUEST,
                     supersede=project.supersede, timeout=project.timeout,
                     report_status=bool(project.status_token) and approval is None,
                     run_id=run_id, approval=approval)
    if project.supersede:
        supersede_waiting(store, run, f"superseded by #{run.id}", time.time())
    if approval is not None:
        notify_run(store, queue, project, run, base_url)  # `waiting`: someone must look
    return run


def close_pull_request(store: Store, queue: Queue, project: Project,
                       event: PullRequestClosed) -> list[str]:
    """A pull request was closed or merged: its runs that have not finished are cancelled
    (nothing of it runs any more) and what it left behind is removed. The ids cancelled."""
    pr = event.pr
    how = "merged" if event.merged else "closed"
    cancelled = []
    for run in store.runs.active():
        if run.project != project.name or run.branch != pr.key:
            continue
        try:
            cancel_run(store, run.id, f"pull request #{pr.number} was {how}")
        except RunNotActive:
            continue  # it finished meanwhile
        cancelled.append(run.id)
    log.info("%s: pull request #%d %s; runs cancelled: %s", project.name, pr.number, how,
             ", ".join(cancelled) or "none")
    remove_preview(queue, project, pr)
    return cancelled


def remove_preview(queue: Queue, project: Project, pr: PullRequest) -> None:
    """Queue the removal of what the pull request's preview app made (a worker does it: the
    web service never waits on the engine). A project without previews has nothing to."""
    if project.pull_requests is not None and project.pull_requests.preview is not None:
        enqueue_preview_removal(queue, project.name, pr.number)
        log.info("%s: pull request #%d: its preview's removal is queued", project.name,
                 pr.number)

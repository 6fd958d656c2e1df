"""Runs that wait for a person: approve, reject, and the expiry of those no one decided.

A waiting run carries what approval lets it do next (`Approval.next`): go on to its deploy,
or run from the start. Approving queues it again; the worker reads the approval from the
record and goes on from there."""

from __future__ import annotations

import time

from rq import Queue

from pipeline.model import Decision, Run, RunStatus
from pipeline.store import Store
from workers.errors import NoSuchRun, NotWaiting
from workers.queue import enqueue_approved

APPROVAL_TTL = 24 * 3600.0  # a waiting run no one decided is cancelled after this long
EXPIRED_REASON = "no one approved it within 24h: approval expired"


def _waiting(store: Store, run_id: str, now: float) -> Run:
    run = store.runs.get(run_id)
    if run is None:
        raise NoSuchRun(f"no run #{run_id}")
    if run.status is not RunStatus.WAITING or run.approval is None:
        raise NotWaiting(f"run #{run_id} is not waiting for approval ({run.status.value})")
    if now - run.approval.since >= APPROVAL_TTL:
        _expire(store, run, now)
        raise NotWaiting(f"run #{run_id} waited over 24h: its approval expired")
    return run


def approve(store: Store, queue: Queue, run_id: str, who: str, *,
            timeout: float = 3600.0, now: float | None = None) -> Run:
    """Let a waiting run go on; older waiting runs of its branch give way to it."""
    now = time.time() if now is None else now
    run = _waiting(store, run_id, now)
    if not store.runs.decide(run.id, Decision.APPROVED, who, at=now, status=RunStatus.QUEUED,
                             reason=f"approved by {who}"):
        raise NotWaiting(f"run #{run_id} was decided meanwhile")
    approved = store.runs.get(run.id)
    assert approved is not None
    enqueue_approved(queue, approved, timeout)
    supersede_waiting(store, run, f"superseded by #{run.id}, approved by {who}", now)
    return approved


def supersede_waiting(store: Store, newer: Run, reason: str, now: float) -> list[str]:
    """End the runs of the newer run's branch that wait for a person and are older than it
    (a supersede leaves waiting runs alone: one may be the deploy someone is about to
    approve); their ids."""
    return [older.id for older in store.runs.active()
            if older.status is RunStatus.WAITING and older.project == newer.project
            and older.branch == newer.branch and int(older.id) < int(newer.id)
            and store.runs.decide(older.id, Decision.SUPERSEDED, f"#{newer.id}", at=now,
                                  status=RunStatus.SUPERSEDED, reason=reason)]


def reject(store: Store, run_id: str, who: str, *, now: float | None = None) -> Run:
    now = time.time() if now is None else now
    run = _waiting(store, run_id, now)
    if not store.runs.decide(run.id, Decision.REJECTED, who, at=now,
                             status=RunStatus.CANCELLED, reason=f"rejected by {who}"):
        raise NotWaiting(f"run #{run_id} was decided meanwhile")
    rejected = store.runs.get(run.id)
    assert rejected is not None
    return rejected


def _expire(store: Store, run: Run, now: float) -> bool:
    return store.runs.decide(run.id, Decision.EXPIRED, "pushdock", at=now,
                             status=RunStatus.CANCELLED, reason=EXPIRED_REASON)


def expire_waiting(store: Store, now: float | None = None) -> list[str]:
    """Cancel the waiting runs no one decided within APPROVAL_TTL; their ids."""
    now = time.time() if now is None else now
    return [run.id for run in store.runs.active()
            if run.status is RunStatus.WAITING and run.approval is not None
            and now - run.approval.since >= APPROVAL_TTL and _expire(store, run, now)]

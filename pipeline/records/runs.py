"""Runs: one hash per run (its fields, and one status and two times per stage), indexes by
time, project and branch, and the active set that recovery and supersede walk.

A status change writes only the fields it changes, in one pipeline: a stage change never
reads the run back."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from pipeline.model import (
    Approval,
    Decision,
    PushEvent,
    Run,
    RunStatus,
    StageName,
    StageRecord,
    StageStatus,
    StopRequest,
)
from pipeline.records.connection import reachable
from pipeline.records.heartbeats import alive_key
from pipeline.records.keys import key, project_key, run_key
from pipeline.records.run_encoding import (
    FINISHED,
    STARTED,
    STATUS,
    approval_fields,
    decode_run,
    encode_run,
    stage_field,
)
from pipeline.records.run_scripts import DECIDE, SET_STAGE, START, SUPERSEDE, UPGRADE
from pipeline.records.stops import STOP_TTL, encode

RUN_SEQUENCE = key("runs", "seq")
ALL_RUNS = key("runs")  # sorted by creation time
ACTIVE_RUNS = key("runs", "active")  # queued or running
PROJECTS = key("projects")  # every project that has a run
Pipeline = redis.client.Pipeline

def runs_of(project: str) -> str:
    return project_key(project, "runs")


def active_of_branch(project: str, branch: str) -> str:
    """Queued and running runs of one branch: what a newer push supersedes."""
    return project_key(project, "branch", branch, "active")


class RunRecords:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        # By their digest (EVALSHA): a stage change sends its arguments, not the script.
        self._start = client.register_script(START)
        self._set_stage = client.register_script(SET_STAGE)
        self._upgrade = client.register_script(UPGRADE)
        self._decide = client.register_script(DECIDE)

    def create(self, event: PushEvent, *, trigger: str = "push",
               stages: tuple[StageName, ...] = (),
               along: Callable[[Pipeline, Run], None] | None = None,
               run_id: str | None = None, supersede: bool = False,
               deploy: bool = True, approval: Approval | None = None) -> Run:
        """Record a new queued run. `along` adds its own writes (the run's job) to the same
        transaction, so that the run and its job are written together or not at all.
        `run_id` is one from Deliveries.claim; by default a new one is taken. With
        `supersede`, older queued or running runs of the branch give way to this one in the
        same transaction: queued ones end `superseded` at once, running ones are asked to
        stop, and both get the stop request, so one a worker starts meanwhile stops too."""
        with reachable():
            if run_id is None:
                run_id = str(self.redis.incr(RUN_SEQUENCE))
            run = Run(id=run_id, project=event.project, branch=event.branch, sha=event.sha,
                      message=event.message, author=event.author, trigger=trigger,
                      created=time.time(), delivery_id=event.delivery_id,
                      stages=_pending(stages), deploy=deploy, approval=approval, pr=event.pr,
                      status=RunStatus.WAITING if approval else RunStatus.QUEUED,
                      reason=approval.reason if approval else "")
            pipe = self.redis.pipeline()
            pipe.multi()  # explicitly: RQ, given this pipeline, would start one otherwise
            pipe.hset(run_key(run.id), mapping=encode_run(run))
            pipe.zadd(ALL_RUNS, {run.id: run.created})
            pipe.zadd(runs_of(run.project), {run.id: run.created})
            pipe.sadd(ACTIVE_RUNS, run.id)
            pipe.sadd(active_of_branch(run.project, run.branch), run.id)
            pipe.sadd(PROJECTS, run.project)
            if along is not None:
                along(pipe, run)
            if supersede:
                _supersede(pipe, run.project, run.branch, run.id)
            pipe.execute()
        return run

    def get(self, run_id: str) -> Run | None:
        with reachable():
            data = self.redis.hgetall(run_key(run_id))
        return decode_run(data) if data else None

    def many(self, ids: list[str]) -> list[Run]:
        with reachable():
            pipe = self.redis.pipeline()
            for run_id in ids:
                pipe.hgetall(run_key(run_id))
            rows = pipe.execute()
        return [decode_run(row) for row in rows if row]

    def list(self, project: str | None = None, limit: int = 50, offset: int = 0) -> list[Run]:
        """Newest first."""
        index = runs_of(project) if project else ALL_RUNS
        with reachable():
            ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        return self.many(ids)

    def count(self, project: str | None = None) -> int:
        with reachable():
            return int(self.redis.zcard(runs_of(project) if project else ALL_RUNS))

    def projects(self) -> list[str]:
        # A set kept with the runs: every page asks, and a SCAN would walk every key.
        with reachable():
            return sorted(self.redis.smembers(PROJECTS))

    def latest_of(self, projects: list[str]) -> dict[str, Run]:
        """The newest run of each project, in two round trips."""
        with reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.zrevrange(runs_of(project), 0, 0)
            newest = pipe.execute()
        return {run.project: run for run in self.many([ids[0] for ids in newest if ids])}

    def active(self) -> list[Run]:
        """Queued and running runs, oldest first."""
        with reachable():
            ids = list(self.redis.smembers(ACTIVE_RUNS))
        runs = self.many(ids)
        return sorted((r for r in runs if not r.status.finished), key=lambda r: int(r.id))

    def start(self, run_id: str) -> bool:
        """A queued run is running from now; False when it is not queued (any more)."""
        with reachable():
            return bool(self._start(keys=[run_key(run_id)], args=[repr(time.time())]))

    def set_stage(self, run_id: str, name: StageName, status: StageStatus) -> None:
        change = ("start" if status is StageStatus.RUNNING
                  else "mark" if status in (StageStatus.SKIPPED, StageStatus.PENDING) else "end")
        with reachable():
            written = self._set_stage(keys=[run_key(run_id)],
                                      args=[name.value, status.value, repr(time.time()), change])
        if not written:
            raise KeyError(run_id)

    def resolve_sha(self, run_id: str, sha: str) -> None:
        """The full commit id of a run queued with an abbreviated one (a Bitbucket pull
        request's), once its checkout found it."""
        with reachable():
            self.redis.hset(run_key(run_id), "sha", sha)

    def wait(self, run_id: str, approval: Approval) -> None:
        """The run stops where it is and waits for a person: it stays active, unfinished."""
        fields = {STATUS: RunStatus.WAITING.value, "reason": approval.reason,
                  **approval_fields(approval)}
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hset(run_key(run_id), mapping=fields)
            pipe.delete(alive_key(run_id))
            pipe.execute()

    def decide(self, run_id: str, decision: Decision, by: str, *, at: float,
               status: RunStatus, reason: str = "") -> bool:
        """Record a decision on a waiting run, moving it to `status`; False when it was not
        waiting (decided already, or never waiting). A finished status is finished here."""
        with reachable():
            decided = bool(self._decide(keys=[run_key(run_id)],
                                        args=[status.value, decision.value, by, repr(at),
                                              reason]))
        if decided and status.finished:
            self.finish(run_id, status, reason)
        return decided

    def finish(self, run_id: str, status: RunStatus, reason: str = "") -> Run:
        """End the run; a stage still open ends with it. Returns the finished run."""
        with reachable():
            self._upgrade(keys=[run_key(run_id)])
        run = self.get(run_id)
        if run is None:
            raise KeyError(run_id)
        now = repr(time.time())
        closed = StageStatus.SUCCESS if status is RunStatus.SUCCESS else StageStatus.FAILED
        fields = {STATUS: status.value, "reason": reason, FINISHED: now}
        if run.started is None:
            fields[STARTED] = now
        for stage in run.stages:
            if stage.status is StageStatus.RUNNING:
                fields[stage_field(stage.name, STATUS)] = closed.value
                fields[stage_field(stage.name, FINISHED)] = now
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hset(run_key(run_id), mapping=fields)
            pipe.srem(ACTIVE_RUNS, run_id)
            pipe.srem(active_of_branch(run.project, run.branch), run_id)
            pipe.delete(alive_key(run_id))
            pipe.hgetall(run_key(run_id))
            finished = pipe.execute()[-1]
        return decode_run(finished)


def _pending(stages: tuple[StageName, ...]) -> tuple[StageRecord, ...]:
    return tuple(StageRecord(name) for name in stages)


def _supersede(client: Pipeline, project: str, branch: str, newer_id: str) -> None:
    reason = f"superseded by #{newer_id}"
    stop = encode(StopRequest(RunStatus.SUPERSEDED, reason))
    client.eval(SUPERSEDE, 2, active_of_branch(project, branch), ACTIVE_RUNS, newer_id,
                run_key(""), stop, STOP_TTL, reason, repr(time.time()))

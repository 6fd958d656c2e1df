"""Redis-backed records: runs, their logs (streams), live apps, deployments, delivery ids."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

import redis
from redis.lock import Lock

from pipeline.deploy.history import deployment_from_json, deployment_to_json
from pipeline.errors import StoreUnavailable
from pipeline.model import (
    Color,
    Deployment,
    LiveApp,
    PushEvent,
    Run,
    RunStatus,
    StageName,
    StageRecord,
    StageStatus,
)

PREFIX = "pushdock:"
LOG_MAX_LINES = 100_000  # per run; older lines are trimmed (approximately) from the stream
DELIVERY_TTL = 4 * 24 * 3600  # forges redeliver for up to 3 days
DEPLOYMENTS_KEPT = 100
LOCK_TTL = 30.0  # seconds a deploy lock outlives a holder that stopped extending it
STOP_TTL = 7 * 24 * 3600  # a stop request outlives any run it can be for


# Claims a delivery id and numbers its run atomically: a repeated delivery takes no number.
_CLAIM_RUN_ID = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""

# Older queued or running runs of one branch give way to run ARGV[1] (see Store.supersede).
# In Redis, so that it can go in the transaction that records the newer run: a webhook
# then takes no extra round trips for it, and nothing runs between the read and the writes.
# KEYS: the branch's active-run index, the active-run set. ARGV: the newer id, the run key
# prefix, the stop request, its TTL, the reason, the finish time.
_SUPERSEDE = f"""
local newer = tonumber(ARGV[1])
local affected = {{}}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if tonumber(id) < newer then
    local run = ARGV[2] .. id
    local status = redis.call('HGET', run, 'status')
    if status == '{RunStatus.QUEUED}' or status == '{RunStatus.RUNNING}' then
      redis.call('SET', run .. ':stop', ARGV[3], 'NX', 'EX', ARGV[4])
      affected[#affected + 1] = id
    end
    -- a running one stays in the index: its worker finishes it, within seconds
    if status ~= '{RunStatus.RUNNING}' then
      if status == '{RunStatus.QUEUED}' then
        redis.call('HSET', run, 'status', '{RunStatus.SUPERSEDED}', 'reason', ARGV[5],
                   'finished', ARGV[6])
        redis.call('SREM', KEYS[2], id)
      end
      redis.call('SREM', KEYS[1], id)
    end
  end
end
return affected
"""


def _key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def _branch_key(project: str, branch: str) -> str:
    """Queued and running runs of one branch: what a newer push supersedes."""
    return _key("project", project, "branch", branch, "active")


def connect(url: str, timeout: float | None = None) -> redis.Redis:
    """`timeout` bounds each command and connect, for callers that must not hang on Redis."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                socket_timeout=timeout, socket_connect_timeout=timeout)


class Store:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, event: PushEvent, *, trigger: str = "push",
                   stages: tuple[StageName, ...] = (),
                   along: Callable[[redis.client.Pipeline, Run], None] | None = None,
                   run_id: str | None = None, supersede: bool = False) -> Run:
        """Record a new queued run. `along` adds its own writes (the run's job) to the same
        transaction, so that the run and its job are written together or not at all.
        `run_id` is one from claim_delivery_run_id; by default a new one is taken.
        With `supersede`, the same transaction supersedes the branch's older runs."""
        with _reachable():
            if run_id is None:
                run_id = str(self.redis.incr(_key("runs", "seq")))
            run = Run(
                id=run_id,
                project=event.project,
                branch=event.branch,
                sha=event.sha,
                message=event.message,
                author=event.author,
                trigger=trigger,
                created=time.time(),
                stages=tuple(StageRecord(name) for name in stages),
                delivery_id=event.delivery_id,
            )
            pipe = self.redis.pipeline()
            pipe.multi()  # explicitly: RQ, given this pipeline, would start one otherwise
            pipe.hset(_key("run", run.id), mapping=_run_to_hash(run))
            pipe.zadd(_key("runs"), {run.id: run.created})
            pipe.zadd(_key("project", run.project, "runs"), {run.id: run.created})
            pipe.sadd(_key("runs", "active"), run.id)
            pipe.sadd(_branch_key(run.project, run.branch), run.id)
            pipe.sadd(_key("projects"), run.project)
            if along is not None:
                along(pipe, run)
            if supersede:
                self._supersede(pipe, run.project, run.branch, run.id)
            pipe.execute()
        return run

    def get_run(self, run_id: str) -> Run | None:
        with _reachable():
            data = self.redis.hgetall(_key("run", run_id))
        return _run_from_hash(data) if data else None

    def list_runs(self, project: str | None = None, limit: int = 50,
                  offset: int = 0) -> list[Run]:
        """Newest first."""
        index = _key("project", project, "runs") if project else _key("runs")
        with _reachable():
            ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        return self._runs(ids)

    def _runs(self, ids: list[str]) -> list[Run]:
        with _reachable():
            pipe = self.redis.pipeline()
            for run_id in ids:
                pipe.hgetall(_key("run", run_id))
            rows = pipe.execute()
        return [_run_from_hash(row) for row in rows if row]

    def count_runs(self, project: str | None = None) -> int:
        index = _key("project", project, "runs") if project else _key("runs")
        with _reachable():
            return int(self.redis.zcard(index))

    def projects_with_runs(self) -> list[str]:
        # A set kept with the runs: every page asks, and a SCAN would walk every key.
        with _reachable():
            return sorted(self.redis.smembers(_key("projects")))

    def last_runs(self, projects: list[str]) -> dict[str, Run]:
        """The newest run of each project, in two round trips."""
        with _reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.zrevrange(_key("project", project, "runs"), 0, 0)
            newest = pipe.execute()
        ids = [ids[0] for ids in newest if ids]
        return {run.project: run for run in self._runs(ids)}

    def _update(self, run_id: str, **fields: Any) -> Run:
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        run = replace(run, **fields)
        with _reachable():
            self.redis.hset(_key("run", run_id), mapping=_run_to_hash(run))
        return run

    def start_run(self, run_id: str) -> Run:
        return self._update(run_id, status=RunStatus.RUNNING, started=time.time())

    def finish_run(self, run_id: str, status: RunStatus, reason: str = "") -> Run:
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        now = time.time()
        # A stage still open when the run ends ended with it.
        stages = tuple(
            replace(s, status=StageStatus.FAILED if status is not RunStatus.SUCCESS
                    else StageStatus.SUCCESS, finished=now)
            if s.status is StageStatus.RUNNING else s
            for s in run.stages
        )
        finished = self._update(run_id, status=status, reason=reason, finished=now,
                                started=run.started or now, stages=stages)
        with _reachable():
            pipe = self.redis.pipeline()
            pipe.srem(_key("runs", "active"), run_id)
            pipe.srem(_branch_key(run.project, run.branch), run_id)
            pipe.delete(_key("run", run_id, "alive"))
            pipe.execute()
        return finished

    def supersede(self, project: str, branch: str, newer_id: str) -> list[str]:
        """Older queued or running runs of this branch give way to run `newer_id`.

        Queued ones end `superseded` at once; running ones are asked to stop (their worker
        ends them). Both get the stop request, so a run a worker starts meanwhile stops too.
        Returns the ids of the runs affected. One round trip, atomic.
        """
        with _reachable():
            return list(self._supersede(self.redis, project, branch, newer_id))

    @staticmethod
    def _supersede(client: redis.Redis | redis.client.Pipeline, project: str, branch: str,
                   newer_id: str) -> Any:
        reason = f"superseded by #{newer_id}"
        stop = json.dumps({"status": RunStatus.SUPERSEDED.value, "reason": reason})
        return client.eval(_SUPERSEDE, 2, _branch_key(project, branch), _key("runs", "active"),
                           newer_id, _key("run", ""), stop, STOP_TTL, reason, repr(time.time()))

    def active_runs(self) -> list[Run]:
        """Queued and running runs, oldest first."""
        with _reachable():
            ids = self.redis.smembers(_key("runs", "active"))
            pipe = self.redis.pipeline()
            for run_id in ids:
                pipe.hgetall(_key("run", run_id))
            rows = pipe.execute()
        runs = [_run_from_hash(row) for row in rows if row]
        return sorted((r for r in runs if not r.status.finished), key=lambda r: int(r.id))

    # -- stopping runs, and telling live runs from lost ones --------------------------------
    def request_stop(self, run_id: str, status: RunStatus, reason: str) -> None:
        with _reachable():
            self.redis.set(_key("run", run_id, "stop"),
                           json.dumps({"status": status.value, "reason": reason}),
                           nx=True, ex=STOP_TTL)

    def stop_request(self, run_id: str) -> tuple[RunStatus, str] | None:
        with _reachable():
            raw = self.redis.get(_key("run", run_id, "stop"))
        if not raw:
            return None
        data = json.loads(raw)
        return RunStatus(data["status"]), data["reason"]

    def heartbeat(self, run_id: str, ttl: int) -> None:
        with _reachable():
            self.redis.set(_key("run", run_id, "alive"), "1", ex=ttl)

    def is_alive(self, run_id: str) -> bool:
        with _reachable():
            return bool(self.redis.exists(_key("run", run_id, "alive")))

    def set_stage(self, run_id: str, name: StageName, status: StageStatus) -> Run:
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        now = time.time()
        stages = list(run.stages)
        index = next((i for i, s in enumerate(stages) if s.name is name), None)
        if index is None:
            stages.append(StageRecord(name))
            index = len(stages) - 1
        stage = stages[index]
        if status is StageStatus.RUNNING:
            stage = replace(stage, status=status, started=now, finished=None)
        elif status is StageStatus.SKIPPED:
            stage = replace(stage, status=status)
        else:
            stage = replace(stage, status=status, finished=now, started=stage.started or now)
        stages[index] = stage
        return self._update(run_id, stages=tuple(stages))

    # -- logs -------------------------------------------------------------------------------
    def append_log(self, run_id: str, line: str, *, stage: str = "") -> None:
        with _reachable():
            self.redis.xadd(_key("run", run_id, "log"), {"line": line, "stage": stage},
                            maxlen=LOG_MAX_LINES, approximate=True)

    def read_log(self, run_id: str, after: str = "0", count: int = 10_000
                 ) -> list[tuple[str, str, str]]:
        """(entry id, stage, line) after the given entry id, oldest first."""
        with _reachable():
            start = "-" if after == "0" else f"({after}"
            entries = self.redis.xrange(_key("run", run_id, "log"), min=start, count=count)
        return [(entry_id, f.get("stage", ""), f.get("line", "")) for entry_id, f in entries]

    def log_length(self, run_id: str) -> int:
        with _reachable():
            return int(self.redis.xlen(_key("run", run_id, "log")))

    def log_tail(self, run_id: str, count: int) -> tuple[list[tuple[str, str, str]], int]:
        """The last `count` entries, oldest first, and how many entries the log holds."""
        with _reachable():
            pipe = self.redis.pipeline()
            pipe.xrevrange(_key("run", run_id, "log"), count=count)
            pipe.xlen(_key("run", run_id, "log"))
            entries, total = pipe.execute()
        return ([(entry_id, f.get("stage", ""), f.get("line", ""))
                 for entry_id, f in reversed(entries)], int(total))

    def wait_log(self, run_id: str, after: str, block_ms: int
                 ) -> list[tuple[str, str, str]]:
        """Entries after `after` (an entry id, or "0"), waiting up to block_ms for new ones."""
        with _reachable():
            answer = self.redis.xread({_key("run", run_id, "log"): after or "0"},
                                      count=1000, block=block_ms)
        if not answer:
            return []
        return [(entry_id, f.get("stage", ""), f.get("line", ""))
                for entry_id, f in answer[0][1]]

    # -- webhook deliveries -----------------------------------------------------------------
    def claim_delivery(self, project: str, delivery_id: str) -> bool:
        """True the first time a delivery id is seen (for DELIVERY_TTL)."""
        with _reachable():
            return bool(self.redis.set(_key("delivery", project, delivery_id), "1",
                                       nx=True, ex=DELIVERY_TTL))

    def claim_delivery_run_id(self, project: str, delivery_id: str) -> str | None:
        """claim_delivery and, the first time, a new run id, in one round trip (a webhook
        does both for every push); None for a delivery already seen."""
        with _reachable():
            number = self.redis.eval(_CLAIM_RUN_ID, 2, _key("delivery", project, delivery_id),
                                     _key("runs", "seq"), DELIVERY_TTL)
        return str(number) if number else None

    def release_delivery(self, project: str, delivery_id: str) -> None:
        with _reachable():
            self.redis.delete(_key("delivery", project, delivery_id))

    # -- live apps and deployments ----------------------------------------------------------
    def live(self, project: str) -> LiveApp | None:
        with _reachable():
            data = self.redis.hgetall(_key("project", project, "live"))
        return _live_from_hash(project, data) if data else None

    def lives(self, projects: list[str]) -> dict[str, LiveApp]:
        with _reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.hgetall(_key("project", project, "live"))
            rows = pipe.execute()
        return {project: _live_from_hash(project, row)
                for project, row in zip(projects, rows, strict=True) if row}

    def latest_deployments(self, projects: list[str]) -> dict[str, Deployment]:
        with _reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.lindex(_key("project", project, "deployments"), 0)
            rows = pipe.execute()
        return {project: deployment_from_json(row)
                for project, row in zip(projects, rows, strict=True) if row}

    def set_live(self, app: LiveApp) -> None:
        with _reachable():
            data = asdict(app)
            data["color"] = app.color.value
            self.redis.hset(_key("project", app.project, "live"), mapping=data)

    def clear_live(self, project: str) -> None:
        with _reachable():
            self.redis.delete(_key("project", project, "live"))

    # The resolver's answers: where each project's live colour listens (addresses only; the
    # port is in the project's Caddy route).
    def upstream_address(self, project: str) -> str | None:
        with _reachable():
            value = self.redis.hget(_key("upstreams"), project)
        return str(value) if value is not None else None

    def upstream_addresses(self) -> dict[str, str]:
        with _reachable():
            return {str(k): str(v) for k, v in self.redis.hgetall(_key("upstreams")).items()}

    def set_upstream_address(self, project: str, address: str) -> None:
        with _reachable():
            self.redis.hset(_key("upstreams"), project, address)

    def remove_upstream_address(self, project: str) -> None:
        with _reachable():
            self.redis.hdel(_key("upstreams"), project)

    def live_projects(self) -> list[str]:
        with _reachable():
            keys = self.redis.keys(_key("project", "*", "live"))
        return sorted(k[len(PREFIX) + len("project:"):-len(":live")] for k in keys)

    def begin_deployment(self, deployment: Deployment) -> None:
        """Mark a deploy in progress, so one cut short by a dead worker is found later."""
        with _reachable():
            self.redis.set(_key("project", deployment.project, "deploying"),
                           deployment_to_json(deployment))

    def deploying(self, project: str) -> Deployment | None:
        with _reachable():
            text = self.redis.get(_key("project", project, "deploying"))
        return deployment_from_json(text) if text else None

    def deploying_projects(self) -> list[str]:
        with _reachable():
            keys = self.redis.keys(_key("project", "*", "deploying"))
        return sorted(k[len(PREFIX) + len("project:"):-len(":deploying")] for k in keys)

    def record_deployment(self, deployment: Deployment) -> None:
        """Add a finished deployment to the history and end the in-progress mark."""
        with _reachable():
            pipe = self.redis.pipeline()
            history = _key("project", deployment.project, "deployments")
            pipe.lpush(history, deployment_to_json(deployment))
            pipe.ltrim(history, 0, DEPLOYMENTS_KEPT - 1)
            pipe.delete(_key("project", deployment.project, "deploying"))
            pipe.execute()

    def deployments(self, project: str, limit: int = 20) -> list[Deployment]:
        """The history, newest first."""
        with _reachable():
            rows = self.redis.lrange(_key("project", project, "deployments"), 0, limit - 1)
        return [deployment_from_json(row) for row in rows]

    def deployed_projects(self) -> list[str]:
        with _reachable():
            keys = self.redis.keys(_key("project", "*", "deployments"))
        return sorted(k[len(PREFIX) + len("project:"):-len(":deployments")] for k in keys)

    @contextmanager
    def engine_lock(self, name: str, timeout: float = 60.0) -> Iterator[None]:
        """For engine changes the engine does not serialise itself (networks by name)."""
        with _reachable(), self.redis.lock(_key("lock", "engine", name), timeout=timeout,
                                           blocking_timeout=timeout, thread_local=False):
            yield

    @contextmanager
    def deploy_lock(self, project: str, timeout: float = LOCK_TTL,
                    wait: float = 3600.0) -> Iterator[Lock]:
        """Deploys of one project never overlap.

        The lock lives `timeout` seconds and a thread extends it every third of that while
        the holder works, so a long deploy keeps it and a killed worker loses it soon.
        """
        lock = self.redis.lock(_key("lock", "deploy", project), timeout=timeout,
                               blocking_timeout=wait, thread_local=False)
        with _reachable():
            acquired = lock.acquire()
        if not acquired:
            raise TimeoutError(f"another deploy of {project} held the lock for {wait:.0f}s")
        done = threading.Event()

        def keep_alive() -> None:
            while not done.wait(timeout / 3):
                try:
                    lock.extend(timeout, replace_ttl=True)
                except (redis.exceptions.RedisError, redis.exceptions.LockError):
                    return  # lost; the holder finds out when it releases

        keeper = threading.Thread(target=keep_alive, name=f"lock-{project}", daemon=True)
        keeper.start()
        try:
            yield lock
        finally:
            done.set()
            keeper.join()
            try:
                lock.release()
            except (redis.exceptions.LockError, redis.exceptions.RedisError):
                pass  # expired or Redis gone; nothing left to release


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc


def _run_to_hash(run: Run) -> dict[str, str]:
    return {
        "id": run.id,
        "project": run.project,
        "branch": run.branch,
        "sha": run.sha,
        "message": run.message,
        "author": run.author,
        "trigger": run.trigger,
        "status": run.status.value,
        "reason": run.reason,
        "created": repr(run.created),
        "started": "" if run.started is None else repr(run.started),
        "finished": "" if run.finished is None else repr(run.finished),
        "delivery_id": run.delivery_id,
        "stages": json.dumps([
            {"name": s.name.value, "status": s.status.value, "started": s.started,
             "finished": s.finished}
            for s in run.stages
        ]),
    }


def _live_from_hash(project: str, data: dict[str, str]) -> LiveApp:
    return LiveApp(project=project, color=Color(data["color"]), sha=data["sha"],
                   run=data["run"], container=data["container"], upstream=data["upstream"],
                   host=data.get("host", ""))


def _optional_float(value: str) -> float | None:
    return float(value) if value else None


def _run_from_hash(data: dict[str, str]) -> Run:
    return Run(
        id=data["id"],
        project=data["project"],
        branch=data["branch"],
        sha=data["sha"],
        message=data.get("message", ""),
        author=data.get("author", ""),
        trigger=data.get("trigger", "push"),
        status=RunStatus(data["status"]),
        reason=data.get("reason", ""),
        created=float(data["created"]),
        started=_optional_float(data.get("started", "")),
        finished=_optional_float(data.get("finished", "")),
        delivery_id=data.get("delivery_id", ""),
        stages=tuple(
            StageRecord(StageName(s["name"]), StageStatus(s["status"]), s["started"],
                        s["finished"])
            for s in json.loads(data.get("stages") or "[]")
        ),
    )

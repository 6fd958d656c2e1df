from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from pipeline.model import (
    Color,
    Deployment,
    LiveApp,
    PushEvent,
    RunStatus,
    StageName,
    StageStatus,
    StopRequest,
)
from pipeline.records.deliveries import DELIVERY_TTL
from pipeline.store import Store

EVENT = PushEvent(project="shop", branch="main", sha="b" * 40, message="Add cart",
                  author="dev", delivery_id="d-1")


def test_run_lifecycle(store: Store) -> None:
    run = store.runs.create(EVENT, stages=(StageName.CHECKOUT, StageName.BUILD))
    assert run.status is RunStatus.QUEUED and run.id == "1"
    assert store.runs.create(EVENT).id == "2"
    store.runs.start(run.id)
    store.runs.set_stage(run.id, StageName.CHECKOUT, StageStatus.RUNNING)
    current = store.runs.get(run.id)
    assert current is not None and current.current_stage is StageName.CHECKOUT
    store.runs.set_stage(run.id, StageName.CHECKOUT, StageStatus.SUCCESS)
    store.runs.set_stage(run.id, StageName.BUILD, StageStatus.RUNNING)
    done = store.runs.finish(run.id, RunStatus.FAILED, "docker build failed")
    assert done.status is RunStatus.FAILED and done.reason == "docker build failed"
    assert [s.status for s in done.stages] == [StageStatus.SUCCESS, StageStatus.FAILED]
    assert done.duration is not None and done.duration >= 0
    assert store.runs.get(run.id) == done
    assert [r.id for r in store.runs.list()] == ["2", "1"]
    assert [r.id for r in store.runs.list("shop", limit=1)] == ["2"]
    assert store.runs.list("other") == []
    assert store.runs.projects() == ["shop"]
    assert store.runs.get("99") is None


def test_log_stream(store: Store) -> None:
    store.logs.append("5", "first", stage="build")
    store.logs.append("5", "second", stage="build")
    entries = store.logs.read("5")
    assert [(e.stage, e.line) for e in entries] == [("build", "first"), ("build", "second")]
    assert [e.line for e in store.logs.read("5", after=entries[0].id)] == ["second"]
    tail, total = store.logs.tail("5", 1)
    assert [e.line for e in tail] == ["second"] and total == 2 == store.logs.length("5")


def test_delivery_ids_are_claimed_once_with_a_ttl(store: Store, redis_url: str) -> None:
    assert store.deliveries.claim("shop", "abc") is not None
    assert store.deliveries.claim("shop", "abc") is None
    assert store.deliveries.claim("cart", "abc") is not None
    ttl = redis.Redis.from_url(redis_url).ttl("pushdock:delivery:shop:abc")
    assert 3 * 24 * 3600 <= ttl <= DELIVERY_TTL


def test_a_claimed_delivery_numbers_its_run(store: Store, redis_url: str) -> None:
    assert store.deliveries.claim("shop", "d1") == "1"
    assert store.deliveries.claim("shop", "d1") is None  # seen: no number taken
    assert store.deliveries.claim("cart", "d1") == "2"
    ttl = redis.Redis.from_url(redis_url).ttl("pushdock:delivery:shop:d1")
    assert 0 < ttl <= DELIVERY_TTL
    assert store.runs.create(EVENT, run_id="1").id == "1"
    assert store.runs.create(EVENT).id == "3"
    store.deliveries.release("shop", "d1")
    assert store.deliveries.claim("shop", "d1") == "4"


def test_a_newer_run_supersedes_older_ones_of_its_branch(store: Store) -> None:
    queued = store.runs.create(EVENT)
    running = store.runs.create(EVENT)
    store.runs.start(running.id)
    finished = store.runs.create(EVENT)
    store.runs.finish(finished.id, RunStatus.SUCCESS)
    other = store.runs.create(replace(EVENT, branch="dev"))
    newer = store.runs.create(EVENT, supersede=True)

    old = store.runs.get(queued.id)
    assert old is not None and old.status is RunStatus.SUPERSEDED
    assert old.reason == f"superseded by #{newer.id}" and old.finished is not None
    assert store.stops.get(queued.id) == StopRequest(RunStatus.SUPERSEDED, old.reason)
    # A running run is asked to stop; its worker finishes it.
    assert store.runs.get(running.id).status is RunStatus.RUNNING  # type: ignore[union-attr]
    assert store.stops.get(running.id) == StopRequest(RunStatus.SUPERSEDED, old.reason)
    assert store.stops.get(finished.id) is None
    assert store.runs.get(finished.id).status is RunStatus.SUCCESS  # type: ignore[union-attr]
    assert [r.id for r in store.runs.active()] == [running.id, other.id, newer.id]

    # Only the running one is still indexed: the next push affects it and the queued newer
    # one, and nothing on another branch.
    redis_client = store.redis
    redis_client.delete(f"pushdock:run:{running.id}:stop")
    newest = store.runs.create(EVENT, supersede=True)
    reason = f"superseded by #{newest.id}"
    assert store.stops.get(running.id) == StopRequest(RunStatus.SUPERSEDED, reason)
    assert store.stops.get(newer.id) == StopRequest(RunStatus.SUPERSEDED, reason)
    assert store.runs.get(newer.id).status is RunStatus.SUPERSEDED  # type: ignore[union-attr]
    assert store.stops.get(queued.id) == StopRequest(RunStatus.SUPERSEDED, old.reason)
    assert store.runs.get(other.id).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert store.stops.get(other.id) is None
    assert [r.id for r in store.runs.active()] == [running.id, other.id, newest.id]


def test_live_and_deployments(store: Store) -> None:
    assert store.live.get("shop") is None
    app = LiveApp(project="shop", color=Color.GREEN, sha="c" * 40, run="3",
                  container="pushdock-shop-green", upstream="172.18.0.3:8000")
    store.live.set(app)
    assert store.live.get("shop") == app
    assert store.live.projects() == ["shop"]
    deployment = Deployment(project="shop", sha="c" * 40, run="3", color=Color.GREEN,
                            image="shop:ccc", trigger="push", started=1.0, finished=2.0,
                            result="live")
    store.deployments.record(deployment)
    assert store.deployments.history("shop") == [deployment]


def test_deploy_lock_serialises(store: Store) -> None:
    import threading

    order: list[str] = []
    a_inside, a_may_leave = threading.Event(), threading.Event()

    def first() -> None:
        with store.locks.deploy("shop", timeout=10, wait=10):
            order.append("a in")
            a_inside.set()
            a_may_leave.wait(10)
            order.append("a out")

    def second() -> None:
        with store.locks.deploy("shop", timeout=10, wait=10):
            order.append("b in")
            order.append("b out")

    a = threading.Thread(target=first)
    a.start()
    assert a_inside.wait(10)
    b = threading.Thread(target=second)
    b.start()  # a holds the lock: b cannot be in before a is out, however it is scheduled
    a_may_leave.set()
    a.join()
    b.join()
    assert order == ["a in", "a out", "b in", "b out"]


def test_the_lock_is_extended_while_held(store: Store) -> None:
    import time

    with store.locks.deploy("shop", timeout=0.6) as lock:
        time.sleep(2)  # over three times its time to live
        assert lock.owned()
        with pytest.raises(TimeoutError), store.locks.deploy("shop", timeout=0.6, wait=0.1):
            pass
    with store.locks.deploy("shop", timeout=0.6, wait=0.1):
        pass  # released on the way out


def test_a_deploy_in_progress_is_marked_until_recorded(store: Store) -> None:
    running = Deployment(project="shop", sha="d" * 40, run="4", color=Color.BLUE,
                         image="shop:ddd", trigger="push", started=1.0, finished=None,
                         result="running")
    store.deployments.begin(running)
    assert store.deployments.in_progress("shop") == running
    assert store.deployments.in_progress_projects() == ["shop"]
    store.deployments.record(replace(running, finished=2.0, result="live"))
    assert store.deployments.in_progress("shop") is None
    assert store.deployments.history("shop")[0].result == "live"
    assert store.deployments.projects() == ["shop"]


def test_a_stage_change_writes_its_fields_alone(store: Store) -> None:
    run = store.runs.create(EVENT, stages=(StageName.CHECKOUT, StageName.BUILD))
    key = f"pushdock:run:{run.id}"
    store.redis.hset(key, "message", "changed elsewhere")  # a stage change must keep it
    store.runs.set_stage(run.id, StageName.BUILD, StageStatus.RUNNING)
    assert store.redis.hget(key, "stage:build:status") == "running"
    assert store.redis.hget(key, "stage:checkout:status") == "pending"
    store.runs.set_stage(run.id, StageName.BUILD, StageStatus.SUCCESS)
    build = store.runs.get(run.id).stages[1]  # type: ignore[union-attr]
    assert build.status is StageStatus.SUCCESS and build.started is not None
    assert build.finished is not None and build.finished >= build.started
    assert store.runs.get(run.id).message == "changed elsewhere"  # type: ignore[union-attr]
    # A stage that ends without having started started when it ended.
    store.runs.set_stage(run.id, StageName.CHECKOUT, StageStatus.FAILED)
    checkout = store.runs.get(run.id).stages[0]  # type: ignore[union-attr]
    assert checkout.started == checkout.finished
    # A stage the run was not created with is kept, after the others.
    store.runs.set_stage(run.id, StageName.DEPLOY, StageStatus.SKIPPED)
    assert [s.name for s in store.runs.get(run.id).stages] == [  # type: ignore[union-attr]
        StageName.CHECKOUT, StageName.BUILD, StageName.DEPLOY]


def test_a_run_written_with_one_stages_field_stays_readable(store: Store) -> None:
    import json

    store.redis.hset("pushdock:run:7", mapping={
        "id": "7", "project": "shop", "branch": "main", "sha": "a" * 40, "status": "success",
        "created": "1.5", "started": "2.0", "finished": "3.0",
        "stages": json.dumps([{"name": "build", "status": "success", "started": 2.0,
                               "finished": 3.0}])})
    run = store.runs.get("7")
    assert run is not None and run.status is RunStatus.SUCCESS and run.duration == 1.0
    assert [(s.name, s.status, s.duration) for s in run.stages] == [
        (StageName.BUILD, StageStatus.SUCCESS, 1.0)]


def test_a_run_written_before_the_upgrade_takes_stage_changes(store: Store) -> None:
    import json

    # Queued, or cut short while running, by a Pushdock that kept stages in one JSON field.
    store.redis.hset("pushdock:run:8", mapping={
        "id": "8", "project": "shop", "branch": "main", "sha": "a" * 40, "status": "running",
        "created": "1.5", "started": "2.0",
        "stages": json.dumps([{"name": "checkout", "status": "success", "started": 2.0,
                               "finished": 3.0},
                              {"name": "config", "status": "running", "started": 3.0,
                               "finished": None},
                              {"name": "build", "status": "pending", "started": None,
                               "finished": None}])})
    store.redis.sadd("pushdock:runs:active", "8")
    store.runs.set_stage("8", StageName.CONFIG, StageStatus.SUCCESS)
    store.runs.set_stage("8", StageName.BUILD, StageStatus.RUNNING)
    run = store.runs.finish("8", RunStatus.ERROR, "worker lost")
    assert [(s.name, s.status) for s in run.stages] == [
        (StageName.CHECKOUT, StageStatus.SUCCESS), (StageName.CONFIG, StageStatus.SUCCESS),
        (StageName.BUILD, StageStatus.FAILED)]
    assert run.stages[0].duration == 1.0 and run.stages[1].started == 3.0
    assert store.redis.hget("pushdock:run:8", "stages") is None  # moved, not kept twice
    assert store.runs.get("8") == run


def test_only_a_queued_run_starts(store: Store) -> None:
    run = store.runs.create(EVENT, stages=(StageName.CHECKOUT,))
    assert store.runs.start(run.id)
    assert not store.runs.start(run.id)  # running already
    cancelled = store.runs.create(EVENT)
    store.runs.finish(cancelled.id, RunStatus.CANCELLED, "cancelled by ann")
    assert not store.runs.start(cancelled.id)
    assert store.runs.get(cancelled.id).status is RunStatus.CANCELLED  # type: ignore[union-attr]
    assert not store.runs.start("404")
    with pytest.raises(KeyError):
        store.runs.set_stage("404", StageName.BUILD, StageStatus.RUNNING)
    assert not store.redis.exists("pushdock:run:404")  # nothing half written


def test_an_older_reader_sees_a_new_run_without_stages(store: Store) -> None:
    import json

    run = store.runs.create(EVENT, stages=(StageName.CHECKOUT, StageName.BUILD))
    # What the Pushdock before stage fields read: a JSON list in `stages`, else "[]".
    assert json.loads(store.redis.hget(f"pushdock:run:{run.id}", "stages") or "[]") == []

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from pipeline.model import Color, Deployment, LiveApp, PushEvent, RunStatus, StageName, StageStatus
from pipeline.store import DELIVERY_TTL, Store

EVENT = PushEvent(project="shop", branch="main", sha="b" * 40, message="Add cart",
                  author="dev", delivery_id="d-1")


def test_run_lifecycle(store: Store) -> None:
    run = store.create_run(EVENT, stages=(StageName.CHECKOUT, StageName.BUILD))
    assert run.status is RunStatus.QUEUED and run.id == "1"
    assert store.create_run(EVENT).id == "2"
    store.start_run(run.id)
    store.set_stage(run.id, StageName.CHECKOUT, StageStatus.RUNNING)
    current = store.get_run(run.id)
    assert current is not None and current.current_stage is StageName.CHECKOUT
    store.set_stage(run.id, StageName.CHECKOUT, StageStatus.SUCCESS)
    store.set_stage(run.id, StageName.BUILD, StageStatus.RUNNING)
    done = store.finish_run(run.id, RunStatus.FAILED, "docker build failed")
    assert done.status is RunStatus.FAILED and done.reason == "docker build failed"
    assert [s.status for s in done.stages] == [StageStatus.SUCCESS, StageStatus.FAILED]
    assert done.duration is not None and done.duration >= 0
    assert store.get_run(run.id) == done
    assert [r.id for r in store.list_runs()] == ["2", "1"]
    assert [r.id for r in store.list_runs("shop", limit=1)] == ["2"]
    assert store.list_runs("other") == []
    assert store.projects_with_runs() == ["shop"]
    assert store.get_run("99") is None


def test_log_stream(store: Store) -> None:
    store.append_log("5", "first", stage="build")
    store.append_log("5", "second", stage="build")
    entries = store.read_log("5")
    assert [(stage, line) for _, stage, line in entries] == [("build", "first"),
                                                             ("build", "second")]
    assert [line for _, _, line in store.read_log("5", after=entries[0][0])] == ["second"]


def test_delivery_ids_are_claimed_once_with_a_ttl(store: Store, redis_url: str) -> None:
    assert store.claim_delivery("shop", "abc")
    assert not store.claim_delivery("shop", "abc")
    assert store.claim_delivery("cart", "abc")
    ttl = redis.Redis.from_url(redis_url).ttl("pushdock:delivery:shop:abc")
    assert 3 * 24 * 3600 <= ttl <= DELIVERY_TTL


def test_a_claimed_delivery_numbers_its_run(store: Store, redis_url: str) -> None:
    assert store.claim_delivery_run_id("shop", "d1") == "1"
    assert store.claim_delivery_run_id("shop", "d1") is None  # seen: no number taken
    assert store.claim_delivery_run_id("cart", "d1") == "2"
    ttl = redis.Redis.from_url(redis_url).ttl("pushdock:delivery:shop:d1")
    assert 0 < ttl <= DELIVERY_TTL
    assert store.create_run(EVENT, run_id="1").id == "1"
    assert store.create_run(EVENT).id == "3"
    store.release_delivery("shop", "d1")
    assert store.claim_delivery_run_id("shop", "d1") == "4"


def test_a_newer_run_supersedes_older_ones_of_its_branch(store: Store) -> None:
    queued = store.create_run(EVENT)
    running = store.start_run(store.create_run(EVENT).id)
    finished = store.create_run(EVENT)
    store.finish_run(finished.id, RunStatus.SUCCESS)
    other = store.create_run(replace(EVENT, branch="dev"))
    newer = store.create_run(EVENT, supersede=True)

    old = store.get_run(queued.id)
    assert old is not None and old.status is RunStatus.SUPERSEDED
    assert old.reason == f"superseded by #{newer.id}" and old.finished is not None
    assert store.stop_request(queued.id) == (RunStatus.SUPERSEDED, old.reason)
    # A running run is asked to stop; its worker finishes it.
    assert store.get_run(running.id).status is RunStatus.RUNNING  # type: ignore[union-attr]
    assert store.stop_request(running.id) == (RunStatus.SUPERSEDED, old.reason)
    assert store.stop_request(finished.id) is None
    assert store.get_run(finished.id).status is RunStatus.SUCCESS  # type: ignore[union-attr]
    assert [r.id for r in store.active_runs()] == [running.id, other.id, newer.id]

    # Only the running one is still indexed: the next push asks it again, and nothing else.
    assert sorted(store.supersede("shop", "main", str(int(newer.id) + 1)), key=int) == [
        running.id, newer.id]
    assert store.supersede("shop", "dev", "1") == []
    assert store.get_run(other.id).status is RunStatus.QUEUED  # type: ignore[union-attr]


def test_live_and_deployments(store: Store) -> None:
    assert store.live("shop") is None
    app = LiveApp(project="shop", color=Color.GREEN, sha="c" * 40, run="3",
                  container="pushdock-shop-green", upstream="172.18.0.3:8000")
    store.set_live(app)
    assert store.live("shop") == app
    assert store.live_projects() == ["shop"]
    deployment = Deployment(project="shop", sha="c" * 40, run="3", color=Color.GREEN,
                            image="shop:ccc", trigger="push", started=1.0, finished=2.0,
                            result="live")
    store.record_deployment(deployment)
    assert store.deployments("shop") == [deployment]


def test_deploy_lock_serialises(store: Store) -> None:
    import threading
    import time

    order: list[str] = []

    def deploy(name: str) -> None:
        with store.deploy_lock("shop", timeout=10, wait=10):
            order.append(f"{name} in")
            time.sleep(0.3)
            order.append(f"{name} out")

    threads = [threading.Thread(target=deploy, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert order == ["a in", "a out", "b in", "b out"]


def test_the_lock_is_extended_while_held(store: Store) -> None:
    import time

    with store.deploy_lock("shop", timeout=0.6) as lock:
        time.sleep(2)  # over three times its time to live
        assert lock.owned()
        with pytest.raises(TimeoutError), store.deploy_lock("shop", timeout=0.6, wait=0.1):
            pass
    with store.deploy_lock("shop", timeout=0.6, wait=0.1):
        pass  # released on the way out


def test_a_deploy_in_progress_is_marked_until_recorded(store: Store) -> None:
    running = Deployment(project="shop", sha="d" * 40, run="4", color=Color.BLUE,
                         image="shop:ddd", trigger="push", started=1.0, finished=None,
                         result="running")
    store.begin_deployment(running)
    assert store.deploying("shop") == running
    assert store.deploying_projects() == ["shop"]
    store.record_deployment(replace(running, finished=2.0, result="live"))
    assert store.deploying("shop") is None
    assert store.deployments("shop")[0].result == "live"
    assert store.deployed_projects() == ["shop"]

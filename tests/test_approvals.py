"""Deploy approval: a passing run on the deploy branch waits (status `waiting`), a person
approves or rejects it (CLI, API; the page's buttons are in test_browser.py), a newer
approval supersedes older waiting runs, and a run no one decided expires after 24 h."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model import (
    Approval,
    ApprovalNext,
    Decision,
    PushEvent,
    RunStatus,
    StageName,
    StageStatus,
)
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import (
    RecordingServer,
    SampleRepo,
    log_lines,
    project_file,
    wait_for,
    worker_process,
)
from tests.test_api import AUTH, make_client
from tests.test_bluegreen import served
from tests.test_cli import pushdock
from workers.approvals import APPROVAL_TTL, EXPIRED_REASON, approve, expire_waiting, reject
from workers.errors import NotWaiting
from workers.queue import job_connection, run_queue, submit_run

SHA = "d" * 40
FAST_DEPLOY = """test:
  steps:
    - name: unit
      run: echo tests pass
deploy:
  port: 8000
  health: {path: /healthz, interval: 200ms, healthy_after: 2, deadline: 20s}
  drain: 0s
"""


def waiting(store: Store, since: float = 1000.0, project: str = "shop") -> str:
    """A run recorded as one that passed its tests and waits to deploy."""
    run = store.runs.create(PushEvent(project=project, branch="main", sha=SHA),
                            stages=(StageName.TEST, StageName.DEPLOY))
    store.runs.start(run.id)
    store.runs.set_stage(run.id, StageName.TEST, StageStatus.SUCCESS)
    store.runs.wait(run.id, Approval(ApprovalNext.DEPLOY, "waiting for approval to deploy",
                                     since))
    return run.id


def test_a_waiting_run_expires_after_24_hours(store: Store) -> None:
    run_id = waiting(store, since=1000.0)
    assert expire_waiting(store, now=1000.0 + APPROVAL_TTL - 1) == []
    assert store.runs.get(run_id).status is RunStatus.WAITING  # type: ignore[union-attr]
    assert expire_waiting(store, now=1000.0 + APPROVAL_TTL) == [run_id]
    run = store.runs.get(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    assert run.reason == EXPIRED_REASON and run.finished is not None
    assert run.approval is not None and run.approval.decision is Decision.EXPIRED
    assert run_id not in [r.id for r in store.runs.active()]


def test_an_expired_run_cannot_be_approved(store: Store, redis_url: str) -> None:
    run_id = waiting(store, since=1000.0)
    queue = run_queue(job_connection(redis_url))
    with pytest.raises(NotWaiting, match="expired"):
        approve(store, queue, run_id, "ann", now=1000.0 + APPROVAL_TTL + 5)
    assert store.runs.get(run_id).status is RunStatus.CANCELLED  # type: ignore[union-attr]
    assert queue.count == 0


def test_approve_and_reject_decide_once(store: Store, redis_url: str) -> None:
    queue = run_queue(job_connection(redis_url))
    first, second = waiting(store, since=2000.0), waiting(store, since=2000.0)
    run = approve(store, queue, first, "ann", now=2100.0)
    assert run.status is RunStatus.QUEUED and run.reason == "approved by ann"
    assert run.approval is not None and run.approval.approved
    assert (run.approval.by, run.approval.at) == ("ann", 2100.0)
    assert queue.get_job_ids() == [f"run-{first}-approved"]
    with pytest.raises(NotWaiting):
        reject(store, first, "bob", now=2101.0)
    with pytest.raises(NotWaiting):
        approve(store, queue, first, "bob", now=2101.0)
    assert store.runs.get(first).approval.by == "ann"  # type: ignore[union-attr]

    rejected = reject(store, second, "bob", now=2200.0)
    assert rejected.status is RunStatus.CANCELLED and rejected.reason == "rejected by bob"
    assert rejected.approval is not None and rejected.approval.decision is Decision.REJECTED
    assert queue.count == 1


def test_cancel_ends_a_waiting_run_at_once(store: Store) -> None:
    from workers.actions import cancel

    run_id = waiting(store)
    assert cancel(store, run_id, "ann").status is RunStatus.CANCELLED


def test_a_newer_approval_supersedes_older_waiting_runs(store: Store, redis_url: str) -> None:
    queue = run_queue(job_connection(redis_url))
    older, other_project, newer = (waiting(store, 3000.0), waiting(store, 3000.0, "cart"),
                                   waiting(store, 3000.0))
    approve(store, queue, newer, "ann", now=3001.0)
    superseded = store.runs.get(older)
    assert superseded is not None and superseded.status is RunStatus.SUPERSEDED
    assert superseded.reason == f"superseded by #{newer}, approved by ann"
    assert store.runs.get(other_project).status is RunStatus.WAITING  # type: ignore[union-attr]


def test_the_api_approves_and_rejects(settings: Settings, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    import time

    client = make_client(settings, tmp_path, monkeypatch, token="t0ken-for-tests")
    now = time.time()
    first, second = waiting(store, now), waiting(store, now)
    assert client.post(f"/api/runs/{first}/approve").status_code == 401
    answer = client.post(f"/api/runs/{first}/approve", headers=AUTH, json={"by": "ann"})
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status"] == "queued"
    assert body["approval"]["decision"] == "approved" and body["approval"]["by"] == "ann (API)"
    assert client.post(f"/api/runs/{first}/approve", headers=AUTH).status_code == 409
    answer = client.post(f"/api/runs/{second}/reject", headers=AUTH)
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "cancelled"  # newer: not superseded by #first
    assert answer.get_json()["reason"] == "rejected by an API call"
    assert client.post("/api/runs/999/approve", headers=AUTH).status_code == 404
    run = client.get(f"/api/runs/{first}").get_json()
    assert run["approval"]["next"] == "deploy" and run["approval"]["at"] >= now


def test_the_command_line_approves_and_rejects(store: Store, redis_url: str) -> None:
    import time

    first, second = waiting(store, time.time(), "cart"), waiting(store, time.time())
    env = {"PUSHDOCK_REDIS_URL": redis_url}
    result = pushdock("approve", first, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pushdock: run #{first} approved: it goes on to its deploy"
    approved = store.runs.get(first)
    assert approved is not None and approved.approval is not None
    assert approved.approval.by.endswith("(command line)")
    again = pushdock("approve", first, env=env)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.strip().endswith(f"run #{first} is not waiting for approval (queued)")
    result = pushdock("reject", f"#{second}", env=env)
    assert result.returncode == 0, result.stderr
    assert store.runs.get(second).status is RunStatus.CANCELLED  # type: ignore[union-attr]


# -- the whole way: a real worker, a real deploy through Caddy --------------------------------
@pytest.fixture
def deploy_worker(deployer, settings: Settings, caddy: CaddyProcess,
                  tmp_path: Path) -> Iterator[None]:
    bluegreen, _ = deployer
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir), "APPROVE_SECRET": "s",
           "PUSHDOCK_CADDY_ADMIN": caddy.admin_url, "PUSHDOCK_PROXY_LISTEN": caddy.proxy_listen,
           "PUSHDOCK_APPS_NETWORK": bluegreen.settings.apps_network,
           "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen,
           "PUSHDOCK_RESOLVER": settings.resolver or ""}
    with worker_process(env, tmp_path / "worker.log"):
        yield


def test_a_passing_run_waits_then_deploys_once_approved(
        deploy_worker: None, settings: Settings, store: Store, sample_repo: SampleRepo,
        project_name: str, base_image: str, caddy: CaddyProcess, redis_url: str,
        docker_client) -> None:
    host = f"{project_name}.test"
    with RecordingServer(status=200) as hook:
        project_file(settings.config_dir, project_name, sample_repo.path,
                     secret_var="APPROVE_SECRET", host=host,
                     extra=f"notify:\n  - url: json://{hook.url.split('//')[1]}/n\n"
                           "    on: [waiting, deployed, failed]\n")
        path = settings.config_dir / f"{project_name}.yml"
        path.write_text(path.read_text().replace(f"  host: {host}\n",
                                                 f"  host: {host}\n  approval: true\n"))
        _wait_then_deploy(settings, store, sample_repo, project_name, caddy, redis_url, hook)


def _wait_then_deploy(settings: Settings, store: Store, sample_repo: SampleRepo,
                      project_name: str, caddy: CaddyProcess, redis_url: str,
                      hook: RecordingServer) -> None:
    host = f"{project_name}.test"
    queue = run_queue(job_connection(redis_url))
    sha = sample_repo.commit("v1", files={".pushdock.yml": FAST_DEPLOY})
    run = submit_run(store, queue, PushEvent(project=project_name, branch="main", sha=sha))

    held = wait_for(lambda: (r := store.runs.get(run.id)) and r.status is not RunStatus.QUEUED
                    and r.status is not RunStatus.RUNNING and r, timeout=180,
                    what="the run to stop before its deploy")
    assert held.status is RunStatus.WAITING, held.reason
    assert held.reason == "waiting for approval to deploy"
    stages = {stage.name: stage.status for stage in held.stages}
    assert stages[StageName.TEST] is StageStatus.SUCCESS
    assert stages[StageName.DEPLOY] is StageStatus.PENDING
    assert store.live.get(project_name) is None  # nothing deployed yet
    assert "tests pass" in log_lines(store, run.id)
    wait_for(lambda: hook.requests, timeout=30, what="the waiting notice")
    assert hook.requests[0]["body"]["title"] == (
        f"{project_name}: main {sha[:7]} waiting for approval to deploy")

    approve(store, queue, run.id, "ann")
    done = wait_for(lambda: (r := store.runs.get(run.id)) and r.status.finished and r,
                    timeout=180, what="the approved run to deploy")
    assert done.status is RunStatus.SUCCESS, done.reason
    assert {s.name: s.status for s in done.stages}[StageName.DEPLOY] is StageStatus.SUCCESS
    assert done.started == held.started  # one run, from its first start
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha and live.run == run.id
    assert served(caddy, host) == "v1"
    lines = log_lines(store, run.id)
    assert "tests passed before the approval: not run again" in lines
    assert lines.count("tests pass") == 1
    wait_for(lambda: len(hook.requests) == 2, timeout=30, what="the deployed notice")
    assert "event: deployed" in hook.requests[1]["body"]["message"]


def test_a_run_can_wait_before_it_starts(store: Store, redis_url: str) -> None:
    """What a later caller (a fork's pull request) records: a run that waits to run at all."""
    queue = run_queue(job_connection(redis_url))
    run = store.runs.create(PushEvent(project="shop", branch="pr-7", sha=SHA),
                            stages=(StageName.CHECKOUT,),
                            approval=Approval(ApprovalNext.RUN, "a fork's pull request waits "
                                              "for approval to run", 5000.0))
    assert run.status is RunStatus.WAITING and run.reason.startswith("a fork's")
    assert store.runs.get(run.id).approval.next is ApprovalNext.RUN  # type: ignore[union-attr]
    approved = approve(store, queue, run.id, "ann", now=5001.0)
    assert approved.status is RunStatus.QUEUED
    assert approved.approval is not None and approved.approval.next is ApprovalNext.RUN
    assert queue.get_job_ids() == [f"run-{run.id}-approved"]

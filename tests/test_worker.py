"""The worker process for real: a SIGKILL mid-run, and what a starting worker tidies up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model import PushEvent, RunStatus
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import SampleRepo, log_lines, project_file, wait_for
from workers.lifecycle import remove_leftovers
from workers.queue import job_connection, run_queue, submit_run

LONG_STEP = "test:\n  steps:\n    - {name: long, run: 'echo started; sleep 300'}\n"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (read from /proc, no procps needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Workers:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
                    "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
                    "PUSHDOCK_DATA_DIR": str(settings.data_dir), "WORKER_SECRET": "x",
                    "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen}
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "pushdock", "worker"],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()


def test_a_worker_killed_mid_run(workers: Workers, settings: Settings, store: Store,
                                 sample_repo: SampleRepo, project_name: str, base_image: str,
                                 docker_client, redis_url: str) -> None:
    project_file(settings.config_dir, project_name, sample_repo.path, secret_var="WORKER_SECRET")
    queue = run_queue(job_connection(redis_url))
    first = workers.start()
    sha = sample_repo.commit("v1", files={".pushdock.yml": LONG_STEP})
    run = submit_run(store, queue, PushEvent(project=project_name, branch="main", sha=sha))
    wait_for(lambda: "started" in log_lines(store, run.id),
             timeout=120, what="the step to start")
    step_filter = {"label": [f"pushdock.run={run.id}", "pushdock.role=step"]}
    assert docker_client.containers.list(filters=step_filter)

    # The worker and its work horse (RQ puts the horse in a session of its own), no warning.
    family = [first.pid, *descendants(first.pid)]
    assert len(family) >= 2, "the work horse was not found"
    for pid in family:
        os.kill(pid, signal.SIGKILL)
    first.wait()
    assert store.runs.get(run.id).status is RunStatus.RUNNING  # type: ignore[union-attr]

    workers.start()
    lost = wait_for(lambda: (r := store.runs.get(run.id)) and r.status.finished and r,
                    timeout=90, what="the lost run to be marked")
    assert lost.status is RunStatus.ERROR and lost.reason == "worker lost"
    wait_for(lambda: not docker_client.containers.list(all=True, filters=step_filter),
             timeout=30, what="the lost run's containers to go")

    # the next push runs normally on the new worker
    sha = sample_repo.commit("v2", files={".pushdock.yml": "test:\n  steps:\n    - run: 'true'\n"})
    after = submit_run(store, queue, PushEvent(project=project_name, branch="main", sha=sha))
    done = wait_for(lambda: (r := store.runs.get(after.id)) and r.status.finished and r,
                    timeout=120, what="the next run")
    assert done.status is RunStatus.SUCCESS, done.reason


def test_leftovers_of_finished_runs_are_removed(settings: Settings, store: Store,
                                                docker_client, base_image: str,
                                                project_name: str) -> None:
    finished = store.runs.create(PushEvent(project=project_name, branch="main", sha="a" * 40))
    store.runs.finish(finished.id, RunStatus.FAILED, "x")
    running = store.runs.create(PushEvent(project=project_name, branch="main", sha="b" * 40))
    store.runs.start(running.id)
    labels = {"pushdock.project": project_name, "pushdock.role": "step"}
    for run_id in (finished.id, running.id, "local42"):
        docker_client.containers.create(base_image, ["true"],
                                        labels={**labels, "pushdock.run": run_id})
    workspace = settings.data_dir / "workspaces" / f"{project_name}-run{finished.id}"
    workspace.mkdir(parents=True)
    # Queued when the list was taken, started by another worker since: not a leftover.
    starting = store.runs.create(PushEvent(project=project_name, branch="main", sha="c" * 40))
    starting_workspace = settings.data_dir / "workspaces" / f"{project_name}-run{starting.id}"
    starting_workspace.mkdir()
    other = {**labels, "pushdock.project": "someone-else", "pushdock.run": finished.id}
    stranger = docker_client.containers.create(base_image, ["true"], labels=other)
    try:
        assert remove_leftovers(store, docker_client, settings.data_dir,
                                {project_name}) == [finished.id]
        stranger.reload()  # another instance's container on a shared engine is left alone
    finally:
        stranger.remove(force=True)
    left = {c.labels["pushdock.run"] for c in docker_client.containers.list(
        all=True, filters={"label": f"pushdock.project={project_name}"})}
    assert left == {running.id, "local42"}
    assert not workspace.exists()
    assert starting_workspace.exists()


def test_two_workers_run_two_projects_at_once(settings: Settings, store: Store,
                                              tmp_path: Path, project_name: str,
                                              base_image: str, docker_client,
                                              redis_url: str) -> None:
    from tests.conftest import remove_project_resources
    from workers.actions import cancel_run

    pool = Workers(settings, tmp_path)
    other = f"{project_name}-b"
    runs = []
    queue = run_queue(job_connection(redis_url))
    try:
        log = open(tmp_path / "workers.log", "wb")  # noqa: SIM115
        supervisor = subprocess.Popen([sys.executable, "-m", "pushdock", "worker", "-n", "2"],
                                      env=pool.env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        log.close()
        pool.processes.append(supervisor)
        for name in (project_name, other):
            repo = SampleRepo(tmp_path / f"repo-{name}")
            project_file(settings.config_dir, name, repo.path, secret_var="WORKER_SECRET")
            sha = repo.commit("v1", files={".pushdock.yml": LONG_STEP})
            runs.append(submit_run(store, queue, PushEvent(project=name, branch="main",
                                                           sha=sha)))

        def both_started() -> bool:
            return all("started" in log_lines(store, run.id)
                       for run in runs)

        wait_for(both_started, timeout=180, what="both runs to be in their steps together")
        assert all(store.runs.get(r.id).status is RunStatus.RUNNING for r in runs)  # type: ignore[union-attr]
        for run in runs:
            cancel_run(store, run.id)
        wait_for(lambda: all(store.runs.get(r.id).status.finished for r in runs),  # type: ignore[union-attr]
                 timeout=30, what="both runs to stop")
        # the supervisor stops its workers on SIGTERM, leaving none behind
        children = descendants(supervisor.pid)
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(timeout=30)
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children),
                 timeout=30, what="the workers to exit")
    finally:
        remove_project_resources(docker_client, other)

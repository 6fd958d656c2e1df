"""Pull request runs the whole way: a webhook as GitHub sends it, a real worker and engine,
the head fetched from the project's own repository as refs/pull/N/head (made in the
repository here, as the forge makes it). A fork's run waits for approval and then sees no
secret; a rejected one runs nothing; no pull request's run deploys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.deploy.apps import Apps
from pipeline.model import RunStatus, StageName, StageStatus
from pipeline.pull_requests import NEVER_DEPLOYS, NO_SECRETS
from pipeline.reporting import MASK
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import (
    SampleRepo,
    forge_fixture,
    log_lines,
    project_file,
    wait_for,
    worker_process,
)
from webhooks.app import create_app
from workers.actions import rerun
from workers.approvals import approve, reject
from workers.queue import job_connection, run_queue

SECRET = "pr-webhook-secret"
TOKEN = "tok-5f2a9c71e4"  # the project's secret a fork's code must never see
SPEC = """test:
  steps:
    - name: token
      run: echo "token=[$API_TOKEN]"
"""


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir), "PR_SECRET": SECRET,
           "PR_TOKEN": TOKEN}
    log_path = tmp_path / "worker.log"
    with worker_process(env, log_path):
        yield log_path


def pull_request_head(repo: SampleRepo, number: int, version: str) -> str:
    """A commit only refs/pull/<number>/head holds, as a forge keeps a fork's head."""
    repo.git("checkout", "-q", "-b", f"incoming-{number}")
    sha = repo.commit(version, files={".pushdock.yml": SPEC})
    repo.git("update-ref", f"refs/pull/{number}/head", sha)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", f"incoming-{number}")
    return sha


def send(client: Any, name: str, number: int, sha: str) -> dict[str, Any]:
    def edit(payload: dict[str, Any]) -> None:
        payload["number"] = payload["pull_request"]["number"] = number
        payload["pull_request"]["head"]["sha"] = sha
        # The payload's clone URLs name somewhere else: they are never fetched from.
        payload["pull_request"]["head"]["repo"]["clone_url"] = "https://evil.example/x.git"

    body, headers = forge_fixture("github", name, SECRET, edit=edit, delivery=f"{name}-{number}")
    response = client.post("/hooks/" + client.project, data=body, headers=headers)
    assert response.status_code == 202, response.json
    return response.json


@pytest.fixture
def hooks(settings: Settings, sample_repo: SampleRepo, project_name: str,
          monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PR_SECRET", SECRET)
    monkeypatch.setenv("PR_TOKEN", TOKEN)
    sample_repo.commit("main")
    project_file(settings.config_dir, project_name, sample_repo.path, secret_var="PR_SECRET",
                 host=f"{project_name}.test",
                 extra="secrets:\n  API_TOKEN: ${PR_TOKEN}\npull_requests:\n  forks: approve\n")
    client = create_app(settings).test_client()
    client.project = project_name  # type: ignore[attr-defined]
    return client


def finished(store: Store, run_id: str) -> Any:
    return wait_for(lambda: (r := store.runs.get(run_id)) and r.status.finished and r,
                    timeout=240, what=f"run {run_id} to finish")


def test_pull_request_runs_fork_approval_and_no_secrets(
        worker: Path, hooks: Any, settings: Settings, store: Store, sample_repo: SampleRepo,
        base_image: str, redis_url: str, docker_client: Any) -> None:
    own = pull_request_head(sample_repo, 3, "own")
    fork = pull_request_head(sample_repo, 4, "fork")
    rejected = pull_request_head(sample_repo, 5, "rejected")

    # The project's own pull request runs at once, with the secrets (masked in the log).
    own_run = finished(store, send(hooks, "pull_request_opened", 3, own)["run"])
    assert own_run.status is RunStatus.SUCCESS, own_run.reason
    assert own_run.sha == own and own_run.pr.number == 3 and not own_run.pr.fork
    lines = log_lines(store, own_run.id)
    assert f"fetching refs/pull/3/head from {sample_repo.path}" in lines
    assert f"token=[{MASK}]" in lines
    assert NEVER_DEPLOYS in lines
    stages = {stage.name: stage.status for stage in own_run.stages}
    assert stages[StageName.DEPLOY] is StageStatus.SKIPPED
    assert store.live.get(own_run.project) is None
    # Its image is named and labelled apart: no deploy, rollback or approval ever takes it.
    image = docker_client.images.get(f"{own_run.project}/pull-3:{own}")
    assert image.labels["pushdock.pull-request"] == "3"
    assert Apps(docker_client, "unused").available_images(own_run.project) == set()

    # A fork's waits; approved, it runs from the start and sees no secret.
    waiting = store.runs.get(send(hooks, "pull_request_fork", 4, fork)["run"])
    assert waiting is not None and waiting.status is RunStatus.WAITING
    assert waiting.reason == "waiting for approval: pull request from a fork"
    queue = run_queue(job_connection(redis_url))
    approve(store, queue, waiting.id, "ann")
    fork_run = finished(store, waiting.id)
    assert fork_run.status is RunStatus.SUCCESS, fork_run.reason
    assert fork_run.approval is not None and fork_run.approval.by == "ann"
    lines = log_lines(store, fork_run.id)
    assert NO_SECRETS in lines
    assert "token=[]" in lines
    assert not any(TOKEN in line or MASK in line for line in lines)
    assert {s.name: s.status for s in fork_run.stages}[StageName.DEPLOY] is StageStatus.SKIPPED

    # Its rerun (a person's *Rerun*) is still the fork's pull request: still no secret.
    again = finished(store, rerun(settings, store, queue, fork_run.id).id)
    assert again.status is RunStatus.SUCCESS, again.reason
    assert again.pr == fork_run.pr and again.sha == fork
    assert "token=[]" in log_lines(store, again.id)

    # A rejected one ends there: nothing of it ran.
    other = send(hooks, "pull_request_fork", 5, rejected)["run"]
    reject(store, other, "bob")
    ended = store.runs.get(other)
    assert ended is not None and ended.status is RunStatus.CANCELLED
    assert ended.reason == "rejected by bob"
    assert log_lines(store, other) == []
    assert all(s.status is StageStatus.PENDING for s in ended.stages)


def test_a_forks_run_sees_every_secret_blank_and_others_see_them() -> None:
    from pipeline.config import Project
    from pipeline.model import PullRequest, Run
    from pipeline.pull_requests import project_for, trusted

    project = Project(name="shop", repo="/srv/shop.git", webhook_secret="x",
                      secrets={"API_TOKEN": TOKEN, "DB": "postgres://u:p@db"})
    push = Run(id="1", project="shop", branch="main", sha="a" * 40)
    own = Run(id="2", project="shop", branch="refs/pull/3/head", sha="a" * 40,
              pr=PullRequest(3, ref="refs/pull/3/head"))
    fork = Run(id="3", project="shop", branch="refs/pull/4/head", sha="a" * 40,
               pr=PullRequest(4, fork=True, ref="refs/pull/4/head"))
    assert project_for(push, project) is project and project_for(own, project) is project
    assert project_for(fork, project).secrets == {"API_TOKEN": "", "DB": ""}
    assert project.secrets["API_TOKEN"] == TOKEN  # the project itself is untouched
    assert [trusted(run) for run in (push, own, fork)] == [True, True, False]

"""Whole runs on the real engine: services, limits, timeouts, secrets, cancel, supersede,
broken configs and failing builds."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import pytest
from rq import Queue

from pipeline.config import Project
from pipeline.control import RunControl
from pipeline.model import Forge, PushEvent, Run, RunStatus, StageName, StageStatus
from pipeline.reporting import MASK, Masker, StoreReporter
from pipeline.runner import Outcome, Runner
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import (
    ManualClock,
    SampleRepo,
    log_lines,
    processes_with,
    restore_build_bounds,
    wait_for,
)
from workers.actions import cancel_run
from workers.errors import RunNotActive
from workers.queue import job_connection, submit_run


@dataclass
class Harness:
    settings: Settings
    store: Store
    docker: object
    repo: SampleRepo
    project: Project
    clock: Callable[[], float] = field(default=time.monotonic)

    def create(self, pipeline: str, *, version: str = "v1",
               files: dict[str, str] | None = None, branch: str = "main") -> Run:
        sha = self.repo.commit(version, files={".pushdock.yml": pipeline, **(files or {})})
        return self.store.runs.create(PushEvent(project=self.project.name, branch=branch,
                                               sha=sha))

    def run(self, pipeline: str, *, version: str = "v1", files: dict[str, str] | None = None,
            branch: str = "main") -> tuple[Run, Outcome, list[str]]:
        run = self.create(pipeline, version=version, files=files, branch=branch)
        return (run, *self.execute(run))

    def execute(self, run: Run) -> tuple[Outcome, list[str]]:
        self.store.runs.start(run.id)
        reporter = StoreReporter(self.store, run.id, Masker(self.project.secrets.values()))
        control = RunControl(timeout=self.project.timeout,
                             poll_stop=lambda: self.store.stops.get(run.id),
                             clock=self.clock)
        with control:
            outcome = Runner(self.settings, self.docker, reporter, control,
                             self.store).execute(run, self.project)
        self.store.runs.finish(run.id, outcome.status, outcome.reason)
        return outcome, log_lines(self.store, run.id)

    def start(self, run: Run, started: str = "started") -> Background:
        """Execute the run in a thread, and wait until its step has printed `started` (or a
        build's RUN has: "#6 0.32 started")."""
        result: list[Outcome] = []
        thread = threading.Thread(target=lambda: result.append(self.execute(run)[0]))
        thread.start()
        wait_for(lambda: any(line == started or line.endswith(f" {started}")
                             for line in log_lines(self.store, run.id)),
                 timeout=60, what="the step to start")
        return Background(thread, result)


@dataclass(frozen=True)
class Background:
    thread: threading.Thread
    result: list[Outcome]

    def outcomes(self) -> list[Outcome]:
        """The outcomes once the run ends; the step is killed within seconds, not after the
        120 s of its `sleep`."""
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        return self.result


@pytest.fixture
def harness(settings: Settings, store: Store, docker_client, base_image: str,
            sample_repo: SampleRepo, project_name: str) -> Iterator[Harness]:
    project = Project(name=project_name, repo=str(sample_repo.path), forge=Forge.GITHUB,
                      webhook_secret="x", secrets={"API_TOKEN": "s3cr3t-value\nline-two"})
    yield Harness(settings, store, docker_client, sample_repo, project)
    assert not docker_client.containers.list(
        all=True, filters={"label": [f"pushdock.project={project_name}",
                                     "pushdock.role=step"]}), "a step container was left"
    assert not docker_client.networks.list(filters={"label": f"pushdock.project={project_name}"})
    assert not list((settings.data_dir / "workspaces").glob("*")), "a workspace was left"


def test_steps_reach_a_service_by_name(harness: Harness, base_image: str) -> None:
    pipeline = f"""
test:
  services:
    api:
      image: {base_image}
      command: "mkdir -p /srv && echo pong > /srv/ping && echo serving && httpd -f -p 8080 -h /srv"
      ready: wget -q -O /dev/null http://127.0.0.1:8080/ping
      deadline: 20s
  steps:
    - name: call
      run: echo "answer=$(wget -q -O- http://api:8080/ping)"
"""
    run, outcome, lines = harness.run(pipeline)
    assert outcome == Outcome(RunStatus.SUCCESS), lines
    assert "service api: ready" in lines
    assert "answer=pong" in lines
    assert "[api] serving" in lines  # the service's own log is kept with the run
    # By project too: run ids are counted per Redis, and other sessions share the engine.
    assert not harness.docker.containers.list(all=True, filters={"label": [
        f"pushdock.run={run.id}", f"pushdock.project={harness.project.name}"]})


def test_a_service_that_never_gets_ready(harness: Harness, base_image: str) -> None:
    pipeline = f"""
test:
  services:
    db: {{image: {base_image}, command: "echo booting; sleep 30", ready: "false", deadline: 2s}}
  steps:
    - run: "true"
"""
    _, outcome, lines = harness.run(pipeline)
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason.startswith("service db was not ready within 2s (waited for `false`")
    assert "[db] booting" in lines


def test_a_step_over_its_memory_limit(harness: Harness) -> None:
    pipeline = """
test:
  resources: {memory: 32m}
  steps:
    - name: greedy
      run: x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived
"""
    _, outcome, lines = harness.run(pipeline)
    assert outcome == Outcome(RunStatus.FAILED, "step greedy ran out of memory (limit 32 MiB)")
    assert "survived" not in lines


def test_a_step_past_its_timeout(harness: Harness) -> None:
    pipeline = "test:\n  steps:\n    - {name: slow, run: 'echo begin; sleep 60', timeout: 2s}\n"
    _, outcome, lines = harness.run(pipeline)
    assert outcome == Outcome(RunStatus.FAILED, "step slow timed out after 2.0s")
    assert "begin" in lines


def test_a_fork_bomb_is_held_by_the_pids_limit(harness: Harness) -> None:
    pipeline = """
test:
  resources: {pids: 32}
  steps:
    - name: bomb
      # The bomb forks in a subshell; the step's own shell then waits with builtins only
      # (read on a FIFO), so it cannot fail to fork and end before its timeout.
      run: "mkfifo /tmp/hold; (bomb() { bomb | bomb & }; bomb); read -t 30 x <> /tmp/hold"
      timeout: 4s
"""
    _, outcome, lines = harness.run(pipeline)
    assert outcome == Outcome(RunStatus.FAILED, "step bomb timed out after 4.0s")
    assert any("can't fork" in line for line in lines)


def test_secrets_are_masked_in_the_log(harness: Harness) -> None:
    pipeline = ("test:\n  steps:\n    - name: leak\n"
                "      run: 'echo \"token=$API_TOKEN\"; echo $API_TOKEN'\n")
    _, outcome, lines = harness.run(pipeline)
    assert outcome.status is RunStatus.SUCCESS
    # the multi-line secret printed as it is, and its lines joined by word splitting
    assert f"token={MASK}" in lines and MASK in lines and f"{MASK} {MASK}" in lines
    assert not any("s3cr3t-value" in line or "line-two" in line for line in lines)


def test_a_broken_pipeline_fails_at_config_with_its_line(harness: Harness) -> None:
    pipeline = "test:\n  steps:\n    - name: unit\n      timout: 5m\n      run: make\n"
    run, outcome, lines = harness.run(pipeline)
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason.startswith(".pushdock.yml:4: test.steps[0].timout: unknown key")
    assert f"config failed: {outcome.reason}" in lines
    stages = {s.name: s.status for s in harness.store.runs.get(run.id).stages}  # type: ignore[union-attr]
    assert stages[StageName.CONFIG] is StageStatus.FAILED
    assert stages[StageName.CHECKOUT] is StageStatus.SUCCESS


def test_a_failing_build_quotes_the_line(harness: Harness, base_image: str) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo compiling && exit 2\n"
    _, outcome, lines = harness.run("{}\n", files={"Dockerfile": dockerfile})
    assert outcome.status is RunStatus.FAILED
    assert "`RUN echo compiling && exit 2`" in outcome.reason
    # BuildKit's plain progress: "#5 0.231 compiling", the RUN's own line after its vertex
    assert "compiling" in [line.split(" ", 2)[-1] for line in lines]


def test_build_secrets_are_mounted_and_masked(harness: Harness, base_image: str) -> None:
    dockerfile = (f"FROM {base_image}\nRUN echo {harness.project.name}\n"  # never cached
                  "RUN --mount=type=secret,id=API_TOKEN "
                  "echo \"got $(cat /run/secrets/API_TOKEN)\"\n")
    _, outcome, lines = harness.run("build: {secrets: [API_TOKEN]}\n",
                                    files={"Dockerfile": dockerfile})
    assert outcome.status is RunStatus.SUCCESS, outcome.reason
    assert any(line.endswith("got ********") for line in lines), lines
    assert not any("s3cr3t-value" in line for line in lines)


def test_a_build_past_the_servers_memory_bound_fails_the_run_with_it(
        harness: Harness, base_image: str) -> None:
    """The server's PUSHDOCK_BUILD_MEMORY, set by the worker itself before the build."""
    harness.settings = replace(harness.settings, build_memory=1024**3)
    try:
        # Its own ENV: the step must run, not come from an earlier build's cache.
        dockerfile = (f"FROM {base_image}\nENV PUSHDOCK_TEST={uuid.uuid4().hex}\n"
                      "RUN dd if=/dev/zero of=/dev/null bs=1500M count=1\n")
        _, outcome, lines = harness.run("{}\n", files={"Dockerfile": dockerfile})
    finally:
        restore_build_bounds(harness.docker)
    assert outcome == Outcome(RunStatus.FAILED, "the build ran out of memory: its steps may "
                              "use 1g (PUSHDOCK_BUILD_MEMORY) at `RUN dd if=/dev/zero "
                              "of=/dev/null bs=1500M count=1`")
    assert f"build failed: {outcome.reason}" in lines


def test_cancel_a_running_run(harness: Harness) -> None:
    pipeline = "test:\n  steps:\n    - {name: long, run: 'echo started; sleep 120'}\n"
    run = harness.create(pipeline)
    background = harness.start(run)
    cancel_run(harness.store, run.id, "cancelled by dev")
    assert background.outcomes() == [Outcome(RunStatus.CANCELLED, "cancelled by dev")]


def test_cancel_and_run_timeout_stop_a_silent_build(harness: Harness, base_image: str) -> None:
    marker = f"sleeper-{uuid.uuid4().hex[:12]}"
    dockerfile = f"FROM {base_image}\nRUN echo {marker}; sleep 600; echo {marker} slept\n"
    run = harness.create("{}\n", files={"Dockerfile": dockerfile})
    background = harness.start(run, started=marker)
    assert processes_with(marker), "the RUN is seen while it runs"
    cancel_run(harness.store, run.id, "cancelled by dev")
    assert background.outcomes() == [Outcome(RunStatus.CANCELLED, "cancelled by dev")]
    wait_for(lambda: not processes_with(marker), timeout=10, what="the RUN to end")

    harness.project = replace(harness.project, timeout=3.0)
    run, outcome, _ = harness.run("{}\n", version="v2", files={"Dockerfile": dockerfile})
    assert outcome == Outcome(RunStatus.FAILED, "run timed out after 3.0s")
    wait_for(lambda: not processes_with(marker), timeout=10, what="the RUN to end")


def test_an_oversized_pipeline_fails_the_config_stage(harness: Harness) -> None:
    _, outcome, _ = harness.run("build: {}\n" + "# padding\n" * 30_000)
    assert outcome == Outcome(RunStatus.FAILED,
                              ".pushdock.yml: the file is larger than 256 KiB")


def test_cancel_a_queued_run(store: Store) -> None:
    run = store.runs.create(PushEvent(project="shop", branch="main", sha="a" * 40))
    cancelled = cancel_run(store, run.id)
    assert cancelled.status is RunStatus.CANCELLED
    assert store.runs.active() == []
    with pytest.raises(RunNotActive, match="already finished"):
        cancel_run(store, run.id)


def test_a_newer_push_supersedes(harness: Harness, redis_url: str) -> None:
    queue = Queue("pushdock-test-supersede", connection=job_connection(redis_url))
    name = harness.project.name
    first = submit_run(harness.store, queue, PushEvent(project=name, branch="main",
                                                       sha="a" * 40), supersede=True)
    other = submit_run(harness.store, queue, PushEvent(project=name, branch="dev",
                                                       sha="b" * 40), supersede=True)
    second = submit_run(harness.store, queue, PushEvent(project=name, branch="main",
                                                        sha="c" * 40), supersede=True)
    old = harness.store.runs.get(first.id)
    assert old is not None and old.status is RunStatus.SUPERSEDED
    assert old.reason == f"superseded by #{second.id}"
    assert harness.store.runs.get(other.id).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert [r.id for r in harness.store.runs.active()] == [other.id, second.id]

    # A running run is stopped the same way
    pipeline = "test:\n  steps:\n    - {name: long, run: 'echo started; sleep 120'}\n"
    running = harness.create(pipeline, version="v2", branch="feature")
    background = harness.start(running)
    newer = submit_run(harness.store, queue, PushEvent(project=name, branch="feature",
                                                       sha="d" * 40), supersede=True)
    assert background.outcomes() == [Outcome(RunStatus.SUPERSEDED, f"superseded by #{newer.id}")]


def test_the_overall_run_timeout(harness: Harness) -> None:
    # The run's clock moves when the test says: past the timeout only once the step runs,
    # so the timeout is what stops the step, and nothing waits for it in real time.
    clock = ManualClock()
    harness.project = replace(harness.project, timeout=3)
    harness.clock = clock
    pipeline = "test:\n  steps:\n    - {name: long, run: 'echo started; sleep 120'}\n"
    run = harness.create(pipeline)
    background = harness.start(run)
    clock.advance(4)
    assert background.outcomes() == [Outcome(RunStatus.FAILED, "run timed out after 3.0s")]

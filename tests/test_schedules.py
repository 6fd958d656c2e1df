"""Schedules: cron read by croniter in UTC (on data), one pending firing per schedule however
many processes ask (real Redis and RQ), and a one-minute cron for real — exactly one run per
slot with two workers and two web processes up, and a missed slot run once after a restart."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq.registry import ScheduledJobRegistry

from pipeline.config import Schedule
from pipeline.errors import ConfigError
from pipeline.model import Run, Trigger
from pipeline.projects import load_project, parse_project
from pipeline.schedules import next_slot, schedule_id
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import SampleRepo, free_port, project_file, start_pushdock, stop_group, wait_for
from workers.queue import job_connection, run_queue
from workers.schedules import sync

HEAD = "project: shop\nrepo: /srv/shop.git\nwebhook_secret: s\n"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# -- on data --------------------------------------------------------------------------------
def test_next_slots_are_in_utc() -> None:
    assert next_slot("0 3 * * *", epoch("2026-12-01T02:59:59")) == epoch("2026-12-01T03:00:00")
    assert next_slot("0 3 * * *", epoch("2026-12-01T03:00:00")) == epoch("2026-12-02T03:00:00")
    assert next_slot("*/15 * * * 1", epoch("2026-12-01T10:07:00")) == epoch(
        "2026-12-07T00:00:00")  # 2026-12-01 is a Tuesday: the next Monday


def test_a_schedule_is_known_by_what_it_says() -> None:
    nightly = Schedule(cron="0 3 * * *", branch="main")
    assert schedule_id(nightly) == schedule_id(Schedule(cron="0 3 * * *", branch="main"))
    assert schedule_id(nightly) != schedule_id(Schedule(cron="0 3 * * *", branch="main",
                                                        deploy=True))


def test_a_bad_cron_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = HEAD + "schedules:\n  - cron: '0 3 * * *'\n  - cron: '61 * * * *'\n    branch: dev\n"
    with pytest.raises(ConfigError) as error:
        parse_project(text, tmp_path / "shop.yml")
    assert str(error.value) == (
        f'{tmp_path}/shop.yml:6: schedules[1].cron: "61 * * * *" is not a cron expression '
        '(five fields: minute hour day-of-month month day-of-week, as "0 3 * * *")')
    with pytest.raises(ConfigError, match=r"schedules\[0\]\.cron: is required"):
        parse_project(HEAD + "schedules:\n  - branch: main\n", tmp_path / "shop.yml")


# -- Redis and RQ ---------------------------------------------------------------------------
def test_sync_schedules_each_firing_once_and_drops_removed_ones(
        tmp_path: Path, redis_url: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_SECRET", "s")
    config = tmp_path / "pipelines.d"
    project_file(config, "shop", "/srv/shop.git", secret_var="S_SECRET",
                 extra="schedules:\n  - cron: '0 3 * * *'\n  - cron: '30 * * * *'\n")
    project = load_project(config, "shop")
    queue = run_queue(job_connection(redis_url))
    now = epoch("2026-12-01T02:10:00")
    made = sync(queue, [project], now=now)
    assert len(made) == 2
    assert sync(queue, [project], now=now) == []  # a second process, or the next round
    registry = ScheduledJobRegistry(queue=queue)
    nightly = schedule_id(project.schedules[0])
    assert f"schedule-shop-{nightly}-{epoch('2026-12-01T03:00:00')}" in registry.get_job_ids()
    # the half-hourly one goes from the file: its firing goes from RQ
    project_file(config, "shop", "/srv/shop.git", secret_var="S_SECRET",
                 extra="schedules:\n  - cron: '0 3 * * *'\n")
    assert sync(queue, [load_project(config, "shop")], now=now) == []
    assert [job_id.split("-")[2] for job_id in registry.get_job_ids()] == [nightly]

    assert store.schedules.claim("shop", nightly, 100)
    assert not store.schedules.claim("shop", nightly, 100)  # the same slot, again
    assert not store.schedules.claim("shop", nightly, 99)  # an older one, late
    assert store.schedules.claim("shop", nightly, 160)


# -- for real: a one-minute cron -----------------------------------------------------------
class Processes:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
                    "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
                    "PUSHDOCK_DATA_DIR": str(settings.data_dir), "CRON_SECRET": "s",
                    "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen,
                    "PUSHDOCK_BIND": f"127.0.0.1:{free_port()}"}
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen[bytes]] = []
        self.web: subprocess.Popen[bytes] | None = None

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        return start_pushdock(list(args), self.env,
                              self.tmp_path / f"{args[0]}-{time.monotonic_ns()}.log")

    def start_workers(self, count: int) -> None:
        self.workers = [self._start("worker") for _ in range(count)]

    def start_web(self, processes: int) -> str:
        self.web = self._start("serve", "--processes", str(processes), "--threads", "2")
        base = f"http://{self.env['PUSHDOCK_BIND']}"
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30, what="the web service")
        return base

    def stop_workers(self) -> None:
        for process in self.workers:
            stop_group(process)
        self.workers = []

    def stop_all(self) -> None:
        self.stop_workers()
        if self.web is not None:
            stop_group(self.web)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(settings, tmp_path)
    yield pool
    pool.stop_all()


def scheduled(store: Store, project: str) -> list[Run]:
    return sorted((run for run in store.runs.list(project, limit=100)
                   if run.trigger == Trigger.SCHEDULE), key=lambda run: int(run.id))


def wait_until(moment: float) -> None:
    """The clock itself is what this test is about: it waits for minutes to turn."""
    while time.time() < moment:
        time.sleep(min(1.0, moment - time.time()))


def test_a_one_minute_cron_runs_once_per_slot_and_once_after_missed_slots(
        processes: Processes, settings: Settings, store: Store, sample_repo: SampleRepo,
        project_name: str, base_image: str) -> None:
    first_head = sample_repo.commit("v1", "First")
    project_file(settings.config_dir, project_name, sample_repo.path, secret_var="CRON_SECRET",
                 extra="schedules:\n  - cron: '* * * * *'\n    branch: main\n")
    base = processes.start_web(2)
    processes.start_workers(2)
    page = urllib.request.urlopen(f"{base}/projects/{project_name}", timeout=5).read().decode()
    assert "<code>* * * * *</code>" in page and " UTC</td>" in page

    # a slot with two workers and two web processes up: one run
    runs = wait_for(lambda: scheduled(store, project_name), timeout=150,
                    what="the first scheduled run")
    first_slot = int(runs[0].created // 60 * 60)
    wait_until(first_slot + 50)  # well into the minute: a second run of it would be here
    assert len(scheduled(store, project_name)) == 1
    [run] = scheduled(store, project_name)
    assert (run.sha, run.branch, run.message) == (first_head, "main", "First")
    assert not run.deploy  # the schedule says `deploy: false` (the default)

    # down across two slots, with a new head: one run when the workers are back
    processes.stop_workers()
    second_head = sample_repo.commit("v2", "Second")
    wait_until(first_slot + 120 + 10)  # the slots first+60 and first+120 passed meanwhile
    assert len(scheduled(store, project_name)) == 1
    processes.start_workers(2)
    runs = wait_for(lambda: len(r := scheduled(store, project_name)) > 1 and r, timeout=60,
                    what="the missed slot to run")
    restarted = time.time()
    wait_until(max(restarted + 15, first_slot + 170))  # before the next slot turns
    runs = scheduled(store, project_name)
    assert len(runs) == 2, [(r.id, r.created) for r in runs]
    assert runs[1].sha == second_head

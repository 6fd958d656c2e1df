from __future__ import annotations

import pytest

from pipeline.config import HealthSpec
from pipeline.deploy.health import Probe, wait_healthy
from pipeline.errors import HealthCheckFailed
from tests.support import Lines


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(probes: list[Probe], spec: HealthSpec) -> tuple[int, Lines]:
    answers = iter(probes)
    lines, time = Lines(), FakeTime()
    count = wait_healthy(lambda: next(answers), spec, lines, clock=time.clock, sleep=time.sleep)
    return count, lines


def test_needs_consecutive_successes() -> None:
    spec = HealthSpec(interval=1, healthy_after=2, deadline=10)
    ok, bad = Probe(True, "200"), Probe(False, "503")
    count, lines = run([ok, bad, ok, ok], spec)
    assert count == 4
    assert lines.lines == ["health 1: 200 (1/2)", "health 2: 503", "health 3: 200 (1/2)",
                           "health 4: 200 (2/2)"]


def test_deadline() -> None:
    spec = HealthSpec(interval=1, healthy_after=2, deadline=3)
    with pytest.raises(HealthCheckFailed, match="not healthy within 3s: last probe 503"):
        run([Probe(False, "503")] * 10, spec)


def test_a_dead_app_ends_the_wait() -> None:
    lines, time = Lines(), FakeTime()
    with pytest.raises(HealthCheckFailed, match="exited with code 3"):
        wait_healthy(lambda: Probe(False, "ConnectionRefusedError"), HealthSpec(), lines,
                     alive=lambda: "exited with code 3", clock=time.clock, sleep=time.sleep)
    assert len(lines.lines) == 1

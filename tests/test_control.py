"""RunControl on a clock the test moves: the overall timeout, stop requests, the stop
callbacks and the heartbeat of the watcher thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline import control as control_module
from pipeline.control import HEARTBEAT_INTERVAL, RunControl
from pipeline.errors import RunStopped
from pipeline.model import RunStatus, StopRequest
from tests.support import ManualClock, wait_for

TIMED_OUT = StopRequest(RunStatus.FAILED, "run timed out after 1m00s")


def soon(predicate: Callable[[], Any], what: str) -> Any:
    """What the watcher thread does within a few of its (quickened) turns."""
    return wait_for(predicate, timeout=10, interval=0.01, what=what)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The watcher's pause between polls is real time: short, so the thread tests are quick.
    monkeypatch.setattr(control_module, "POLL_INTERVAL", 0.01)


def test_the_timeout_counts_from_the_start_and_stops_only_past_it(clock: ManualClock) -> None:
    clock.advance(500)  # the time before the run began does not count
    control = RunControl(timeout=60, clock=clock)
    clock.advance(59.9)
    assert control.poll() is None
    control.check()
    clock.advance(0.1)
    assert control.poll() is None  # at the timeout exactly, the run may still finish
    clock.advance(0.001)
    assert control.poll() == TIMED_OUT
    with pytest.raises(RunStopped, match=r"^run timed out after 1m00s$") as stopped:
        control.check()
    assert stopped.value.status == "failed"


def test_without_a_timeout_the_clock_never_stops_the_run(clock: ManualClock) -> None:
    control = RunControl(clock=clock)
    clock.advance(10 * 365 * 24 * 3600)
    assert control.poll() is None
    control.check()


def test_a_stop_request_is_taken_before_the_timeout(clock: ManualClock) -> None:
    control = RunControl(timeout=60, clock=clock,
                         poll_stop=lambda: StopRequest(RunStatus.CANCELLED, "cancelled by dev"))
    clock.advance(61)
    assert control.poll() == StopRequest(RunStatus.CANCELLED, "cancelled by dev")


def test_the_first_stop_is_kept_and_each_callback_runs_once(clock: ManualClock) -> None:
    asked: list[float] = []

    def poll_stop() -> None:
        asked.append(clock())

    control = RunControl(timeout=60, clock=clock, poll_stop=poll_stop)
    calls: list[str] = []
    control.on_stop(lambda: calls.append("early"))
    assert control.poll() is None
    clock.advance(61)
    assert control.poll() == TIMED_OUT
    assert calls == ["early"]
    # A later stop, from a poll or from outside, changes nothing and calls nobody again.
    assert control.poll() == TIMED_OUT
    control.stop(RunStatus.CANCELLED, "cancelled by dev")
    assert control.stopped == TIMED_OUT
    assert asked == [1000.0, 1061.0]  # a stopped run asks for no stop request
    # A callback registered once the run has stopped runs at once.
    control.on_stop(lambda: calls.append("late"))
    assert calls == ["early", "late"]


def test_the_watcher_stops_the_run_when_the_clock_passes_the_timeout(
        clock: ManualClock, quick_polls: None) -> None:
    polls: list[float] = []
    killed: list[str] = []
    control = RunControl(timeout=60, clock=clock, poll_stop=lambda: polls.append(clock()))
    control.on_stop(lambda: killed.append("containers"))
    with control:
        soon(lambda: len(polls) >= 3, "three polls")
        assert control.stopped is None and killed == []
        clock.advance(61)
        soon(lambda: control.stopped, "the watcher to stop the run")
    assert control.stopped == TIMED_OUT
    assert killed == ["containers"]
    with pytest.raises(RunStopped, match="run timed out after 1m00s"):
        control.check()


def test_the_watcher_beats_once_per_interval_of_the_clock(clock: ManualClock,
                                                         quick_polls: None) -> None:
    beats: list[float] = []
    polls: list[float] = []

    def polled_twice_more() -> bool:
        # A whole turn of the watcher (heartbeat check, then poll) has seen the clock's
        # latest value once two more polls are in.
        target = len(polls) + 2
        return soon(lambda: len(polls) >= target, "two more polls")

    def poll_stop() -> None:
        polls.append(clock())

    control = RunControl(clock=clock, poll_stop=poll_stop,
                         heartbeat=lambda: beats.append(clock()))
    with control:
        soon(lambda: beats, "the first heartbeat")
        polled_twice_more()
        clock.advance(HEARTBEAT_INTERVAL - 1)
        polled_twice_more()
        assert beats == [1000.0]
        clock.advance(1)
        soon(lambda: len(beats) == 2, "the second heartbeat")
        polled_twice_more()
    assert beats == [1000.0, 1000.0 + HEARTBEAT_INTERVAL]


def test_a_failing_heartbeat_or_poll_does_not_end_the_watcher(clock: ManualClock,
                                                             quick_polls: None) -> None:
    attempts: list[str] = []

    def flaky(what: str) -> None:
        attempts.append(what)
        raise ConnectionError("Redis went away")

    control = RunControl(timeout=60, clock=clock, poll_stop=lambda: flaky("poll"),
                         heartbeat=lambda: flaky("beat"))
    with control:
        soon(lambda: attempts.count("poll") >= 2, "a second poll")
        # The failed beat did not count: the next turn tries again.
        assert attempts[:4] == ["beat", "poll", "beat", "poll"]
        assert control.stopped is None


def test_the_default_clock_is_real_time() -> None:
    control = RunControl(timeout=0.05)
    assert soon(control.poll, "the timeout") == StopRequest(
        RunStatus.FAILED, "run timed out after 50ms")


def test_a_stop_request_stops_the_run() -> None:
    killed: list[str] = []
    control = RunControl(poll_stop=lambda: StopRequest(RunStatus.CANCELLED, "cancelled by ann"))
    control.on_stop(lambda: killed.append("containers"))
    control.check()  # nothing polled yet
    assert control.poll() == StopRequest(RunStatus.CANCELLED, "cancelled by ann")
    assert killed == ["containers"]
    with pytest.raises(RunStopped) as caught:
        control.check()
    assert (caught.value.status, str(caught.value)) == ("cancelled", "cancelled by ann")

"""RunControl on data: stop requests, the timeout, and callbacks (a fake clock, no threads)."""

from __future__ import annotations

import pytest

from pipeline.control import RunControl
from pipeline.errors import RunStopped
from pipeline.model import RunStatus, StopRequest


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


def test_a_stored_pair_is_a_stop_request() -> None:
    control = RunControl(poll_stop=lambda: (RunStatus.SUPERSEDED, "superseded by #9"))
    assert control.poll() == StopRequest(RunStatus.SUPERSEDED, "superseded by #9")


def test_the_timeout_fails_the_run_and_the_first_stop_wins() -> None:
    now = [0.0]
    control = RunControl(timeout=60, clock=lambda: now[0])
    assert control.poll() is None
    now[0] = 61.0
    assert control.poll() == StopRequest(RunStatus.FAILED, "run timed out after 1m00s")
    control.stop(RunStatus.CANCELLED, "too late")
    assert control.stopped == StopRequest(RunStatus.FAILED, "run timed out after 1m00s")
    late: list[str] = []
    control.on_stop(lambda: late.append("called at once"))
    assert late == ["called at once"]

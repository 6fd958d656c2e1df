"""Stopping a run from outside: cancel, supersede and the overall timeout; and the heartbeat
that tells a live run from one whose worker was lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pipeline.errors import RunStopped
from pipeline.model import RunStatus, StopRequest
from pipeline.units import format_duration

StopPoll = Callable[[], StopRequest | None]
POLL_INTERVAL = 0.5
HEARTBEAT_INTERVAL = 5.0


class RunControl:
    """Watches for a reason to stop the run, and acts on it at once.

    A background thread polls `poll_stop` (a cancel or supersede recorded elsewhere) and the
    clock; on a stop it calls every `on_stop` callback (which kill the run's containers, so a
    step ends within seconds) and the runner's next `check()` raises RunStopped.
    """

    def __init__(self, *, timeout: float | None = None,
                 poll_stop: StopPoll = lambda: None,
                 heartbeat: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.poll_stop = poll_stop
        self.heartbeat = heartbeat
        self.clock = clock
        self.started = clock()
        self.stopped: StopRequest | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def on_stop(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)
            already = self.stopped is not None
        if already:
            callback()

    def check(self) -> None:
        """Raise RunStopped if the run must stop.

        Only reads what the watcher thread found: the runner calls this between build
        output chunks, far too often to ask Redis each time.
        """
        if self.stopped is not None:
            raise RunStopped(self.stopped.status.value, self.stopped.reason)

    def poll(self) -> StopRequest | None:
        if self.stopped is None:
            request = self.poll_stop()
            if request is None and self.timeout is not None and \
                    self.clock() - self.started > self.timeout:
                request = StopRequest(RunStatus.FAILED,
                                      f"run timed out after {format_duration(self.timeout)}")
            if request is not None:
                self.stop(request.status, request.reason)
        return self.stopped

    def stop(self, status: RunStatus, reason: str) -> None:
        with self._lock:
            if self.stopped is not None:
                return
            self.stopped = StopRequest(status, reason)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    # -- the watcher thread -----------------------------------------------------------------
    def __enter__(self) -> RunControl:
        self._thread = threading.Thread(target=self._watch, name="run-control", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        last_beat = 0.0
        while not self._done.is_set():
            if self.heartbeat is not None and self.clock() - last_beat >= HEARTBEAT_INTERVAL:
                try:
                    self.heartbeat()
                    last_beat = self.clock()
                except Exception:
                    pass
            try:
                self.poll()
            except Exception:
                pass
            self._done.wait(POLL_INTERVAL)

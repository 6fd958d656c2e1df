"""Child processes started together and stopped together, leaving nothing behind.

Each child gets its own session, so a terminal's Ctrl-C reaches only the supervisor, which
then stops the children in reverse order: SIGTERM to the child's whole process group,
SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pushdock.errors import ChildFailed, StopRequested


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    log: Path | None = None
    grace: float = 10.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.children: list[Child] = []
        self.say = say

    def start(self, child: Child, ready: Callable[[], bool] | None = None,
              timeout: float = 30.0) -> Child:
        output = open(child.log, "ab") if child.log else None  # noqa: SIM115 (kept by the child)
        try:
            child.process = subprocess.Popen(
                list(child.argv), env=child.env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT if output else None,
                start_new_session=True)
        finally:
            if output:
                output.close()
        self.children.append(child)
        if ready is not None:
            deadline = time.monotonic() + timeout
            while not ready():
                code = child.process.poll()
                if code is not None:
                    raise ChildFailed(f"{child.name} exited with code {code}"
                                      + (f"; see {child.log}" if child.log else ""))
                if time.monotonic() > deadline:
                    raise ChildFailed(f"{child.name} was not ready after {timeout:g}s"
                                      + (f"; see {child.log}" if child.log else ""))
                time.sleep(0.1)
        self.say(f"started {child.name} (pid {child.process.pid})")
        return child

    def restart(self, child: Child) -> None:
        """Start an exited child again, in its place."""
        self.children.remove(child)
        child.process = None
        self.start(child)

    def wait(self, poll: float = 0.5) -> Child:
        """Block until a child exits; returns it."""
        while True:
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    return child
            time.sleep(poll)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self._stop(child)
        self.children.clear()

    def _stop(self, child: Child) -> None:
        process = child.process
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=child.grace)
        except subprocess.TimeoutExpired:
            self.say(f"{child.name} did not stop in {child.grace:g}s; killing it")
        # Whatever the child left in its group (a forked job, say) goes with it.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        self.say(f"stopped {child.name}")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def raise_on_signals() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise StopRequested(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

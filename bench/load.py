"""The load generator the zero-downtime benchmark runs through every proxy alike: wrk, read
back from its summary, and the small waits around it."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Wrk:
    mode: str
    requests: int = 0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    p50: str = "?"
    p99: str = "?"
    output: str = ""

    @property
    def failed(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


@dataclass
class Row:
    label: str
    wrk: Wrk
    took: float  # seconds, all deploys of the round
    switches: list[int]  # ms from "all healthy" to "switched", each deploy


def start_wrk(url: str, host: str, keep_alive: bool, connections: int) -> subprocess.Popen[str]:
    argv = ["wrk", "-t2", f"-c{connections}", "-d600s", "--latency", "--timeout", "5s",
            "-H", f"Host: {host}", url]
    if not keep_alive:
        argv[-1:-1] = ["-H", "Connection: close"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_wrk(process: subprocess.Popen[str], mode: str) -> Wrk:
    process.send_signal(signal.SIGINT)  # wrk prints its summary when interrupted
    output, _ = process.communicate(timeout=30)
    result = Wrk(mode=mode, output=output)
    match = re.search(r"(\d+) requests in", output)
    result.requests = int(match.group(1)) if match else 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result.non_2xx = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        result.socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, match.groups()), strict=True))
    for name, attribute in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"^\s+{re.escape(name)}\s+(\S+)", output, re.MULTILINE)
        if match:
            setattr(result, attribute, match.group(1))
    return result


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def answers(url: str, host: str) -> bool:
    try:
        request = urllib.request.Request(url, headers={"Host": host})
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False



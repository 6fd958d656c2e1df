"""Memory of `pushdock up` at rest, as a user would measure it.

Starts `pushdock up` (embedded Redis and Caddy, the resolver, the web service, one worker)
in a private data directory, waits until the web service answers and then 15 s more, and
reads the resident memory (RSS, and PSS, which counts pages shared between processes once)
of every process it started, from /proc.

    .venv/bin/python bench/idle_memory.py [--settle 15] [--module pushdock]

`--module` is what `python -m` starts: an older tree's command line to compare against
(with PYTHONPATH pointing at that tree). Goals: web + worker ≤ 130 MB, everything ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Process:
    pid: int
    part: str
    rss_kb: int
    pss_kb: int


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children(pid):
        pids += tree(child)
    return pids


def part_of(cmdline: str) -> str:
    if "redis-server" in cmdline:
        return "redis"
    if "caddy" in cmdline.split(" ")[0]:
        return "caddy"
    if "gunicorn" in cmdline:
        return "web"
    for part in ("resolver", "worker", "serve"):
        if f" {part}" in cmdline:
            return "web" if part == "serve" else part
    return "supervisor"


def measure(pid: int) -> Process | None:
    proc = Path("/proc") / str(pid)
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        rollup = (proc / "smaps_rollup").read_text()
    except OSError:
        return None
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
    return Process(pid, part_of(cmdline), values.get("Rss", 0), values.get("Pss", 0))


def start(module: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    bind = f"127.0.0.1:{free_port()}"
    (root / "pipelines.d").mkdir()
    env = {**os.environ, "PUSHDOCK_DATA_DIR": str(root / "var"),
           "PUSHDOCK_CONFIG_DIR": str(root / "pipelines.d"), "PUSHDOCK_BIND": bind,
           "PUSHDOCK_CADDY_ADMIN": f"http://127.0.0.1:{free_port()}",
           "PUSHDOCK_PROXY_LISTEN": f"127.0.0.1:{free_port()}",
           "PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{free_port()}"}
    env.pop("PUSHDOCK_REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", module, "up"], env=env,
                               stdout=open(root / "up.log", "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://{bind}/healthz"


def wait_until_up(process: subprocess.Popen[bytes], url: str, root: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"pushdock up exited:\n{(root / 'up.log').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("pushdock up did not answer in 60 s")


def report(processes: list[Process]) -> None:
    for p in sorted(processes, key=lambda p: (p.part, p.pid)):
        print(f"  pid {p.pid:<8} {p.part:<12} RSS {p.rss_kb / 1024:6.1f} MB  "
              f"PSS {p.pss_kb / 1024:6.1f} MB")
    print(f"{'part':<12}{'processes':>10}{'RSS MB':>10}{'PSS MB':>10}")
    parts = sorted({p.part for p in processes})
    for part in parts:
        mine = [p for p in processes if p.part == part]
        print(f"{part:<12}{len(mine):>10}{sum(p.rss_kb for p in mine) / 1024:>10.1f}"
              f"{sum(p.pss_kb for p in mine) / 1024:>10.1f}")
    web_worker = [p for p in processes if p.part in ("web", "worker")]
    print(f"{'web+worker':<12}{len(web_worker):>10}"
          f"{sum(p.rss_kb for p in web_worker) / 1024:>10.1f}"
          f"{sum(p.pss_kb for p in web_worker) / 1024:>10.1f}   goal ≤ 130 MB")
    print(f"{'all':<12}{len(processes):>10}{sum(p.rss_kb for p in processes) / 1024:>10.1f}"
          f"{sum(p.pss_kb for p in processes) / 1024:>10.1f}   goal ≤ 200 MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--module", default="pushdock")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pd-mem-"))
    process, url = start(args.module, root)
    try:
        wait_until_up(process, url, root)
        time.sleep(args.settle)  # at rest: what a user sees after start, by the clock
        processes = [p for pid in tree(process.pid) if (p := measure(pid)) is not None]
        # Children run in sessions of their own: find them by their parent, the supervisor.
        report(processes)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


if __name__ == "__main__":
    main()

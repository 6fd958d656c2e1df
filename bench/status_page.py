"""Render times of the status pages with a lot of history.

Fills a private redis-server with 10,000 runs across 20 projects and a 50,000-line log,
serves the pages as in production (`pushdock serve`: gunicorn), and times requests to the
dashboard, a project page and the run page with the big log: median and p99 of the whole
answer, and of the first byte.

    .venv/bin/python bench/status_page.py [--requests 200]

Goals: dashboard and project page under 50 ms at the median; the run page sends its first
byte in under 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from pipeline.model import RUN_STAGES, PushEvent, RunStatus, StageName, StageStatus  # noqa: E402
from pipeline.store import Store, connect  # noqa: E402
from pushdock.embedded import free_port  # noqa: E402

PROJECTS = [f"project-{i:02d}" for i in range(20)]
OUTCOMES = [RunStatus.SUCCESS] * 7 + [RunStatus.FAILED] * 2 + [RunStatus.CANCELLED]


def fill(store: Store, runs: int, log_lines: int) -> str:
    rng = random.Random(7)
    for i in range(runs):
        project = PROJECTS[i % len(PROJECTS)]
        sha = f"{rng.getrandbits(160):040x}"
        run = store.runs.create(PushEvent(project=project, branch="main", sha=sha,
                                         message=f"Change number {i}\n\nWith a body.",
                                         author="dev"), stages=RUN_STAGES)
        store.runs.start(run.id)
        for stage in (StageName.CHECKOUT, StageName.BUILD):
            store.runs.set_stage(run.id, stage, StageStatus.SUCCESS)
        store.runs.finish(run.id, rng.choice(OUTCOMES), "")
    big = store.runs.create(PushEvent(project=PROJECTS[0], branch="main", sha="b" * 40,
                                     message="The run with the big log"), stages=RUN_STAGES)
    pipe = store.redis.pipeline(transaction=False)
    for n in range(log_lines):
        pipe.xadd(f"pushdock:run:{big.id}:log",
                  {"line": f"\x1b[32mstep\x1b[0m line {n}: compiling module_{n % 997}.py",
                   "stage": "test"})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    store.runs.finish(big.id, RunStatus.SUCCESS)
    return big.id


def timed_get(host: str, port: int, path: str) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds to the last byte, status)."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read(1)
    first = time.perf_counter() - start
    response.read()
    total = time.perf_counter() - start
    connection.close()
    return first, total, response.status


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--log-lines", type=int, default=50_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pushdock-bench-"))
    redis_port, web_port = free_port(), free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{redis_port}/0"
    web = None
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        (work / "pipelines.d").mkdir()
        started = time.perf_counter()
        big = fill(Store(connect(url)), args.runs, args.log_lines)
        print(f"filled {args.runs} runs across {len(PROJECTS)} projects and a "
              f"{args.log_lines}-line log in {time.perf_counter() - started:.1f}s")
        env = {**os.environ, "PUSHDOCK_REDIS_URL": url, "PUSHDOCK_BIND": f"127.0.0.1:{web_port}",
               "PUSHDOCK_CONFIG_DIR": str(work / "pipelines.d"),
               "PUSHDOCK_DATA_DIR": str(work / "var")}
        web = subprocess.Popen([str(ROOT / ".venv/bin/pushdock"), "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        for _ in range(200):
            try:
                if timed_get("127.0.0.1", web_port, "/healthz")[2] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        pages = {"dashboard /": "/", f"project /projects/{PROJECTS[3]}": f"/projects/{PROJECTS[3]}",
                 f"run /runs/{big} ({args.log_lines} lines)": f"/runs/{big}"}
        print(f"{args.requests} sequential requests per page, gunicorn as `pushdock serve` "
              "(milliseconds):")
        print(f"  {'page':<40} {'median':>7} {'p99':>7} {'first byte median':>18} {'p99':>7}")
        for name, path in pages.items():
            for _ in range(5):
                timed_get("127.0.0.1", web_port, path)  # warm up both gunicorn processes
            samples = [timed_get("127.0.0.1", web_port, path) for _ in range(args.requests)]
            assert all(status == 200 for _, _, status in samples), name
            firsts = [first * 1000 for first, _, _ in samples]
            totals = [total * 1000 for _, total, _ in samples]
            print(f"  {name:<40} {statistics.median(totals):7.1f} {percentile(totals, 0.99):7.1f}"
                  f" {statistics.median(firsts):18.1f} {percentile(firsts, 0.99):7.1f}")
    finally:
        if web is not None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=20)
        redis_server.terminate()
        redis_server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

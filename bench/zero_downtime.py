"""Zero-downtime benchmark: wrk through Caddy while Pushdock deploys, against the old way.

Run: .venv/bin/python bench/zero_downtime.py [--deploys 10] [--connections 8]
                                             [--switch resolver,patch]

Starts its own redis-server, `pushdock resolver` and caddy on loopback ports, builds a small
busybox web app locally (no registry), then, once with keep-alive and once with
`Connection: close`:
  pushdock: N blue/green deploys of a generation (a release, 2 web replicas, a worker)
            plus one whose release fails, for each way of switching: through the resolver
            (the default; no Caddy config change) and by a PATCH (PUSHDOCK_RESOLVER=off);
  old way:  N times "stop the container, start the new one on the same address"
while wrk sends requests through the proxy. Prints requests, non-2xx, socket errors,
p50/p99 latency and how long after "green healthy" the route was switched.
Everything it creates (containers, images, network, processes, files) is removed.

Caddy 2.6 restarts its servers on every config change: idle keep-alive connections are
closed, and connections queued on the old listening socket are reset unless the kernel
migrates them (net.ipv4.tcp_migrate_req=1, Linux 5.14+). `--tcp-migrate-req` sets it for
the run (as root) and puts the previous value back.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
import redis

from pipeline.build import build_image
from pipeline.config import BuildSpec, DeploySpec, HealthSpec, ProcessSpec, ReleaseSpec
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.resolver import answers as resolver_answers
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import DeployError
from pipeline.settings import Settings
from pipeline.store import Store, connect
from pushdock.embedded import caddy_config, free_port

MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")
HOST = "bench.test"
OLD_HOST = "old.test"
BASE = "pushdock-bench/busybox:latest"
# keep: every image is built up front, and pruning would remove the ones not deployed yet.
# A whole generation: a release, two web replicas and a worker process; the failing deploy's
# release exits 1, so nothing new starts.
SPEC = DeploySpec(port=8000, drain=1.0, keep=100, replicas=2, release=ReleaseSpec(run="true"),
                  processes=(ProcessSpec(name="worker", command=("sleep", "100000"),
                                         settle=0.5, stop_timeout=1),),
                  health=HealthSpec(path="/healthz", interval=0.2, healthy_after=2,
                                    deadline=10))
FAILING = replace(SPEC, release=ReleaseSpec(run="exit 1"))
_SWITCHED = re.compile(r"switched .* (\d+)ms after it was healthy")


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


class Timing:
    """A reporter that keeps the healthy → switched delays."""

    def __init__(self) -> None:
        self.switch_ms: list[int] = []

    def log(self, line: str) -> None:
        match = _SWITCHED.search(line)
        if match:
            self.switch_ms.append(int(match.group(1)))

    def stage(self, *_: object) -> None:
        pass


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


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="pushdock-bench-"))
        self.tag = uuid.uuid4().hex[:8]
        self.project = f"bench{self.tag}"
        self.old_project = f"benchold{self.tag}"
        self.network = f"pushdock-bench-{self.tag}"
        self.docker = docker.from_env(timeout=120)
        self.processes: list[subprocess.Popen[bytes]] = []
        # ms from "green healthy" to "route switched", by way of switching
        self.switches: dict[str, list[int]] = {}
        self.migrate_req_before: str | None = None

    # -- infrastructure ---------------------------------------------------------------------
    def start_redis(self) -> str:
        port = free_port()
        self.processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False

        wait_until(up, 10, "redis-server")
        return url

    def start_resolver(self, redis_url: str) -> str:
        port = free_port()
        env = {**os.environ, "PUSHDOCK_REDIS_URL": redis_url,
               "PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{port}"}
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "pushdock", "resolver"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: resolver_answers("127.0.0.1", port), 15, "pushdock resolver")
        return f"udp/127.0.0.1:{port}"

    def start_caddy(self) -> tuple[str, str]:
        admin = f"http://127.0.0.1:{free_port()}"
        listen = f"127.0.0.1:{free_port()}"
        config = self.work / "caddy.json"
        config.write_text(json.dumps(caddy_config(admin, listen)))
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.work), "XDG_DATA_HOME": str(self.work)}
        log = open(self.work / "caddy.log", "wb")  # noqa: SIM115 (kept by the child)
        self.processes.append(subprocess.Popen(["caddy", "run", "--config", str(config)],
                                               env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        wait_until(CaddyRouter(admin, listen).reachable, 15, "caddy")
        return admin, listen

    def build(self, version: str, *, healthy: bool = True) -> tuple[str, str]:
        context = self.work / f"app-{version}"
        (context / "www").mkdir(parents=True)
        (context / "www" / "index.html").write_text(version + "\n")
        if healthy:
            (context / "www" / "healthz").write_text("ok\n")
        (context / "Dockerfile").write_text(
            f"FROM {BASE}\nCOPY www /www\nEXPOSE 8000\n"
            'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n')
        sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        image = build_image(BuildSpec(), context, self.project, sha, Timing())
        return image, sha

    def build_base(self) -> None:
        context = self.work / "base"
        context.mkdir()
        shutil.copy("/bin/busybox", context / "busybox")
        (context / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            'RUN ["/bin/sh", "-c", "mkdir -p /tmp /etc && chmod 1777 /tmp"]\n')
        self.docker.images.build(path=str(context), tag=BASE, rm=True, forcerm=True)

    # -- the two ways of deploying ----------------------------------------------------------
    def pushdock_round(self, bluegreen: BlueGreen, images: list[tuple[str, str]],
                       failing: tuple[str, str], url: str, keep_alive: bool,
                       timing: Timing) -> tuple[Wrk, int, float]:
        wrk = start_wrk(url, HOST, keep_alive, self.args.connections)
        time.sleep(1)
        started = time.monotonic()
        failed_as_expected = 0
        try:
            for number, (image, sha) in enumerate(images):
                bluegreen.deploy(DeployRequest(
                    project=self.project, host=HOST, image=image, sha=sha, run_id=str(number),
                    trigger="bench", spec=SPEC, secrets={}))
                if number == len(images) // 2:
                    try:
                        bluegreen.deploy(DeployRequest(
                            project=self.project, host=HOST, image=failing[0], sha=failing[1],
                            run_id="failing", trigger="bench", spec=FAILING, secrets={}))
                    except DeployError:
                        failed_as_expected += 1
            took = time.monotonic() - started
            time.sleep(1)
        finally:
            result = stop_wrk(wrk, "keep-alive" if keep_alive else "Connection: close")
        return result, failed_as_expected, took

    def old_way_round(self, images: list[tuple[str, str]], url: str, port: int,
                      keep_alive: bool) -> tuple[Wrk, float]:
        name = f"pushdock-{self.old_project}"

        def run(image: str) -> None:
            self.docker.containers.run(
                image, name=name, detach=True, init=True,
                labels={"pushdock.project": self.old_project, "pushdock.role": "bench"},
                ports={"8000/tcp": ("127.0.0.1", port)})

        run(images[0][0])
        wait_until(lambda: answers(url, OLD_HOST), 15, "the old-way app")
        wrk = start_wrk(url, OLD_HOST, keep_alive, self.args.connections)
        time.sleep(1)
        started = time.monotonic()
        try:
            for image, _ in images[1:]:
                container = self.docker.containers.get(name)
                container.stop(timeout=10)
                container.remove(force=True)
                run(image)
                wait_until(lambda: answers(url, OLD_HOST), 15, "the old-way app")
            took = time.monotonic() - started
            time.sleep(1)
        finally:
            result = stop_wrk(wrk, "keep-alive" if keep_alive else "Connection: close")
            self.docker.containers.get(name).remove(force=True)
        return result, took

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> int:
        for program in ("wrk", "caddy", "redis-server"):
            if shutil.which(program) is None:
                print(f"bench: {program} is not installed (apt-get install {program})")
                return 1
        if self.args.tcp_migrate_req:
            self.migrate_req_before = MIGRATE_REQ.read_text().strip()
            MIGRATE_REQ.write_text("1\n")
        migrate = MIGRATE_REQ.read_text().strip() if MIGRATE_REQ.exists() else "n/a"
        print(f"bench: net.ipv4.tcp_migrate_req = {migrate}", flush=True)
        redis_url = self.start_redis()
        resolver = self.start_resolver(redis_url)
        admin, listen = self.start_caddy()
        url = f"http://{listen}/"
        print(f"bench: redis {redis_url}, resolver {resolver}, caddy admin {admin}, "
              f"proxy {listen}, network {self.network}", flush=True)
        self.build_base()
        count = self.args.deploys + 1  # the first deploy puts an app live before wrk starts
        images = [self.build(f"v{n}") for n in range(count)]
        failing = self.build("broken")
        print(f"bench: built {len(images) + 1} images of {self.project}", flush=True)

        timing = Timing()
        store = Store(connect(redis_url))
        results: list[tuple[str, Wrk, int, float]] = []
        for switch in self.args.switch.split(","):
            through_resolver = {"resolver": True, "patch": False}[switch.strip()]
            settings = Settings(redis_url=redis_url, caddy_admin=admin, proxy_listen=listen,
                                apps_network=self.network,
                                resolver=resolver if through_resolver else None)
            router = CaddyRouter.from_settings(settings, store)
            bluegreen = BlueGreen(self.docker, store, router, settings, timing)
            name = "pushdock, resolver" if through_resolver else "pushdock, PATCH"
            for keep_alive in (True, False):
                bluegreen.deploy(DeployRequest(
                    project=self.project, host=HOST, image=images[0][0], sha=images[0][1],
                    run_id="first", trigger="bench", spec=SPEC, secrets={}))
                timing.switch_ms.clear()
                wrk, failed, took = self.pushdock_round(bluegreen, images[1:], failing, url,
                                                        keep_alive, timing)
                results.append((f"{name} ({len(images) - 1} deploys + {failed} failing)",
                                wrk, len(images) - 1, took))
                switches = list(timing.switch_ms)
                print(f"bench: {name} {wrk.mode}: done, healthy → switched "
                      f"{statistics.median(switches)}ms median, {max(switches)}ms max",
                      flush=True)
                self.switches.setdefault(name, []).extend(switches)

        router = CaddyRouter(admin, listen)  # a fixed address: the old way's route
        old_port = free_port()
        router.set_route(self.old_project, OLD_HOST, f"127.0.0.1:{old_port}")
        for keep_alive in (True, False):
            wrk, took = self.old_way_round(images, url, old_port, keep_alive)
            results.append((f"old way ({len(images) - 1} restarts)", wrk, len(images) - 1,
                            took))
            print(f"bench: old way {wrk.mode}: done", flush=True)
        self.report(results)
        return 0

    def report(self, results: list[tuple[str, Wrk, int, float]]) -> None:
        print()
        print(f"{'':44} {'mode':18} {'requests':>9} {'non-2xx':>8} {'socket err':>10} "
              f"{'p50':>8} {'p99':>8} {'time':>6}")
        for label, wrk, _, took in results:
            errors = sum(wrk.socket_errors.values())
            detail = ",".join(f"{k}={v}" for k, v in wrk.socket_errors.items() if v)
            print(f"{label:44} {wrk.mode:18} {wrk.requests:>9} {wrk.non_2xx:>8} "
                  f"{errors:>10} {wrk.p50:>8} {wrk.p99:>8} {took:>5.0f}s"
                  + (f"  ({detail})" if detail else ""))
        for name, switches in self.switches.items():
            print(f"\n{name}: green healthy → route switched: median "
                  f"{statistics.median(switches)}ms, max {max(switches)}ms over "
                  f"{len(switches)} switches", end="")
        print()

    def clean_up(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for project in (self.project, self.old_project):
            for container in self.docker.containers.list(
                    all=True, filters={"label": f"pushdock.project={project}"}):
                container.remove(force=True)
            for image in self.docker.images.list(filters={"label": f"pushdock.project={project}"}):
                self.docker.images.remove(image.id, force=True)
        for network in self.docker.networks.list(names=[self.network]):
            network.remove()
        try:
            self.docker.images.remove(BASE, force=True)
        except docker.errors.APIError:
            pass
        shutil.rmtree(self.work, ignore_errors=True)
        self.docker.close()
        if self.migrate_req_before is not None:
            MIGRATE_REQ.write_text(self.migrate_req_before + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=10, help="consecutive deploys (10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument("--switch", default="resolver,patch",
                        help="ways of switching to measure (resolver,patch)")
    parser.add_argument("--tcp-migrate-req", action="store_true",
                        help="set net.ipv4.tcp_migrate_req=1 for the run (root)")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        return bench.run()
    finally:
        bench.clean_up()


if __name__ == "__main__":
    sys.exit(main())

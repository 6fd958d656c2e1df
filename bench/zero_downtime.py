"""Zero-downtime benchmark: wrk through the proxy while an app is deployed again and again,
by Pushdock, by a Traefik file-provider swap, and by stop-and-start.

Run: .venv/bin/python bench/zero_downtime.py [--deploys 10] [--connections 8]
         [--switch resolver,patch] [--caddy /usr/bin/caddy,.venv/bin/caddy]
         [--no-traefik] [--traefik-write inplace,rename] [--no-old-way]
         [--tcp-migrate-req]

Starts its own redis-server, `pushdock resolver`, each Caddy and Traefik on loopback ports,
builds a small busybox web app locally (no registry), then, once with keep-alive and once
with `Connection: close`, under the same wrk load:
  pushdock:  per Caddy, N blue/green deploys of a generation (a release, 2 web replicas, a
             worker) plus one whose release fails, for each way of switching: through the
             resolver (the default; no Caddy config change) and by a PATCH;
  traefik:   N swaps as platforms built on Traefik make them (bench/traefik_swap.py);
  old way:   N times "stop the container, start the new one on the same address".
Prints requests, failed requests (non-2xx and socket errors), p50/p99 latency and the time
from "all new web containers healthy" to "switched". Everything it creates (containers,
images, networks, processes, files) is removed.

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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
import redis

from bench.load import Row, Wrk, answers, start_wrk, stop_wrk, wait_until
from bench.traefik_swap import TraefikSwap, traefik_binary, traefik_version
from pipeline.build import build_image
from pipeline.config import BuildSpec, DeploySpec, HealthSpec, ProcessSpec, ReleaseSpec
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.resolver import answers as resolver_answers
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import DeployError
from pipeline.names import project_network
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


def caddy_version(binary: str) -> str:
    output = subprocess.run([binary, "version"], capture_output=True, text=True).stdout
    return output.split()[0] if output.split() else "?"


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


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="pushdock-bench-"))
        self.tag = uuid.uuid4().hex[:8]
        self.project = f"bench{self.tag}"
        self.old_project = f"benchold{self.tag}"
        self.network = f"pushdock-bench-{self.tag}"
        self.docker = docker.from_env(timeout=120)
        self.peer_network = f"pushdock-bench-peer-{self.tag}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.caddys = [each.strip() for each in args.caddy.split(",") if each.strip()]
        self.projects: list[str] = []  # one per Caddy
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

    def start_caddy(self, binary: str, number: int) -> tuple[str, str]:
        admin = f"http://127.0.0.1:{free_port()}"
        listen = f"127.0.0.1:{free_port()}"
        directory = self.work / f"caddy{number}"
        directory.mkdir()
        config = directory / "caddy.json"
        config.write_text(json.dumps(caddy_config(admin, listen)))
        env = {**os.environ, "XDG_CONFIG_HOME": str(directory),
               "XDG_DATA_HOME": str(directory)}
        log = open(directory / "caddy.log", "wb")  # noqa: SIM115 (kept by the child)
        self.processes.append(subprocess.Popen([binary, "run", "--config", str(config)],
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
    def pushdock_round(self, bluegreen: BlueGreen, project: str, images: list[tuple[str, str]],
                       failing: tuple[str, str], url: str,
                       keep_alive: bool) -> tuple[Wrk, int, float]:
        wrk = start_wrk(url, HOST, keep_alive, self.args.connections)
        time.sleep(1)
        started = time.monotonic()
        failed_as_expected = 0
        try:
            for number, (image, sha) in enumerate(images):
                bluegreen.deploy(DeployRequest(
                    project=project, host=HOST, image=image, sha=sha, run_id=str(number),
                    trigger="bench", spec=SPEC, secrets={}))
                if number == len(images) // 2:
                    try:
                        bluegreen.deploy(DeployRequest(
                            project=project, host=HOST, image=failing[0], sha=failing[1],
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
        for program in ("wrk", "redis-server", *self.caddys):
            if shutil.which(program) is None:
                print(f"bench: {program} is not installed (apt-get install wrk redis-server; "
                      "script/bootstrap installs both Caddys)")
                return 1
        if self.args.traefik and traefik_binary() is None:
            print("bench: traefik is not installed (script/bootstrap installs the bench extra)")
            return 1
        if self.args.tcp_migrate_req:
            self.migrate_req_before = MIGRATE_REQ.read_text().strip()
            MIGRATE_REQ.write_text("1\n")
        migrate = MIGRATE_REQ.read_text().strip() if MIGRATE_REQ.exists() else "n/a"
        print(f"bench: net.ipv4.tcp_migrate_req = {migrate}", flush=True)
        redis_url = self.start_redis()
        resolver = self.start_resolver(redis_url)
        print(f"bench: redis {redis_url}, resolver {resolver}, network {self.network}",
              flush=True)
        self.build_base()
        count = self.args.deploys + 1  # the first deploy puts an app live before wrk starts
        images = [self.build(f"v{n}") for n in range(count)]
        failing = self.build("broken")
        print(f"bench: built {len(images) + 1} images of {self.project}", flush=True)

        rows: list[Row] = []
        first_caddy: tuple[str, str] | None = None
        for number, binary in enumerate(self.caddys):
            admin, listen = self.start_caddy(binary, number)
            first_caddy = first_caddy or (admin, listen)
            rows += self.pushdock_rounds(binary, number, redis_url, resolver, admin, listen,
                                         images, failing)
        if self.args.traefik:
            rows += self.traefik_rounds(images)
        if first_caddy is not None and self.args.old_way:
            rows += self.old_way_rounds(images, *first_caddy)
        self.report(rows)
        return 0

    def pushdock_rounds(self, binary: str, number: int, redis_url: str, resolver: str,
                        admin: str, listen: str, images: list[tuple[str, str]],
                        failing: tuple[str, str]) -> list[Row]:
        timing, rows = Timing(), []
        store = Store(connect(redis_url))
        project = f"{self.project}c{number}"  # each Caddy its own project, route and record
        self.projects.append(project)
        version = caddy_version(binary)
        for switch in self.args.switch.split(","):
            through_resolver = {"resolver": True, "patch": False}[switch.strip()]
            settings = Settings(redis_url=redis_url, caddy_admin=admin, proxy_listen=listen,
                                apps_network=self.network,
                                resolver=resolver if through_resolver else None)
            router = CaddyRouter.from_settings(settings, store)
            bluegreen = BlueGreen(self.docker, store, router, settings, timing)
            name = f"pushdock, Caddy {version}, " + ("resolver" if through_resolver
                                                      else "PATCH")
            for keep_alive in (True, False):
                bluegreen.deploy(DeployRequest(
                    project=project, host=HOST, image=images[0][0], sha=images[0][1],
                    run_id="first", trigger="bench", spec=SPEC, secrets={}))
                timing.switch_ms.clear()
                wrk, failed, took = self.pushdock_round(bluegreen, project, images[1:], failing,
                                                        f"http://{listen}/", keep_alive)
                rows.append(Row(f"{name} ({len(images) - 1} deploys + {failed} failing)", wrk,
                                took, list(timing.switch_ms)))
                print(f"bench: {name} {wrk.mode}: done, {wrk.failed} failed", flush=True)
        return rows

    def traefik_rounds(self, images: list[tuple[str, str]]) -> list[Row]:
        self.docker.networks.create(self.peer_network, driver="bridge")
        peer = TraefikSwap(self.docker, self.work, self.peer_network, self.old_project,
                           replicas=SPEC.replicas, processes=self.processes)
        peer.start(free_port(), free_port())
        rows = []
        for write in self.args.traefik_write.split(","):
            peer.renamed = {"inplace": False, "rename": True}[write.strip()]
            name = f"Traefik {traefik_version()} file swap, " + (
                "renamed" if peer.renamed else "in place")
            for keep_alive in (True, False):
                wrk, took, switches = peer.round(images, keep_alive, self.args.connections)
                rows.append(Row(f"{name} ({len(images) - 1} deploys)", wrk, took, switches))
                print(f"bench: {name} {wrk.mode}: done, {wrk.failed} failed", flush=True)
        return rows

    def old_way_rounds(self, images: list[tuple[str, str]], admin: str,
                       listen: str) -> list[Row]:
        router = CaddyRouter(admin, listen)  # a fixed address: the old way's route
        old_port = free_port()
        router.set_route(self.old_project, OLD_HOST, f"127.0.0.1:{old_port}")
        rows = []
        for keep_alive in (True, False):
            wrk, took = self.old_way_round(images, f"http://{listen}/", old_port, keep_alive)
            rows.append(Row(f"stop and start ({len(images) - 1} restarts)", wrk, took, []))
            print(f"bench: stop and start {wrk.mode}: done, {wrk.failed} failed", flush=True)
        return rows

    def report(self, rows: list[Row]) -> None:
        print()
        print(f"{'':58} {'mode':17} {'requests':>8} {'failed':>6} {'non-2xx':>7} "
              f"{'sock err':>8} {'p50':>7} {'p99':>7} {'time':>5}  healthy → switched")
        for row in rows:
            wrk = row.wrk
            errors = sum(wrk.socket_errors.values())
            detail = ",".join(f"{k}={v}" for k, v in wrk.socket_errors.items() if v)
            switched = (f"median {statistics.median(row.switches):.0f} ms, max "
                        f"{max(row.switches)} ms" if row.switches else "-")
            print(f"{row.label:58} {wrk.mode:17} {wrk.requests:>8} {wrk.failed:>6} "
                  f"{wrk.non_2xx:>7} {errors:>8} {wrk.p50:>7} {wrk.p99:>7} {row.took:>4.0f}s  "
                  f"{switched}" + (f"  ({detail})" if detail else ""))

    def clean_up(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        projects = (self.project, *self.projects, self.old_project)
        for project in projects:  # every container first: they all run the images built
            for container in self.docker.containers.list(
                    all=True, filters={"label": f"pushdock.project={project}"}):
                container.remove(force=True)
        for image in self.docker.images.list(filters={"label": f"pushdock.project={self.project}"}):
            self.docker.images.remove(image.id, force=True)
        names = [self.network, self.peer_network, *map(project_network, self.projects)]
        for network in self.docker.networks.list(names=names):
            if network.name in names:  # names= matches parts of names too
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
    venv_caddy = Path(sys.executable).parent / "caddy"
    parser.add_argument("--caddy", default=f"/usr/bin/caddy,{venv_caddy}",
                        help="Caddy binaries to deploy behind, comma-separated (Debian's "
                             "and the venv's current one)")
    parser.add_argument("--no-traefik", dest="traefik", action="store_false",
                        help="leave out the Traefik file-provider swap")
    parser.add_argument("--traefik-write", default="inplace,rename",
                        help="how the swap writes Traefik's file (inplace,rename)")
    parser.add_argument("--no-old-way", dest="old_way", action="store_false",
                        help="leave out stop-and-start")
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

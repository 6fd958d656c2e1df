"""Where a switch through the resolver spends its time, against a real Caddy, Redis and
`pushdock resolver` on loopback, with two small HTTP servers as the colors:

    .venv/bin/python bench/resolver_switch.py [--caddy /usr/bin/caddy] [--switches 40]

Each switch is what a deploy does once the new color is healthy (`router.route_now`, then
`router.set_route`), while a client sends requests through Caddy one after the other on a
keep-alive connection. Printed per phase (median, max, in ms):
  admin reads      the route read from Caddy's admin API (and the table from Redis)
  resolver         the table written and published, until the resolver answers the new address
  caddy wait       the rest: the wait for Caddy's cached answer to run out
  switch           the whole call, "healthy" to "switched"
and, seen by the client: how long after the resolver answered the new address the last
request went to the old color (the real switch; "switched" must come after it).
Run it from an older tree's folder (`cd OLD && python NEW/bench/resolver_switch.py`) to
measure that tree's router: the modules come from the current folder.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.getcwd())

from bench.upstream import VersionServer
from pipeline.deploy.resolver import answers
from pipeline.deploy.router import CaddyRouter
from pipeline.store import Store, connect
from pushdock.embedded import free_port

HOST = "shop.test"


class Client(threading.Thread):
    """Requests through Caddy one after the other: (when each was sent, who answered)."""

    def __init__(self, listen: str) -> None:
        super().__init__(daemon=True)
        self.listen = listen
        self.seen: list[tuple[float, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        host, port = self.listen.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        while not self.stop.is_set():
            sent = time.perf_counter()
            try:
                connection.request("GET", "/", headers={"Host": HOST})
                body = connection.getresponse().read().decode()
            except (OSError, http.client.HTTPException):
                connection.close()
                body = "failed"
            self.seen.append((sent, body))


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not start")
        time.sleep(0.05)


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def timed(spent: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - began
            spent[f"{name} ended"] = time.perf_counter()
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--caddy", default="/usr/bin/caddy")
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="pd-resolver-switch-")
    redis_port, resolver_port, admin, proxy = (free_port() for _ in range(4))
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    children = [start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", workdir], {})]
    config = os.path.join(workdir, "caddy.json")
    with open(config, "w") as out:
        json.dump({"admin": {"listen": f"127.0.0.1:{admin}"}}, out)
    port = free_port()
    colors = {"blue": VersionServer("blue", "127.0.0.2", port),
              "green": VersionServer("green", "127.0.0.3", port)}
    try:
        store = Store(connect(redis_url))
        wait_until(lambda: _pings(store), "redis-server")
        children.append(start([sys.executable, "-m", "pushdock", "resolver"], {
            "PUSHDOCK_REDIS_URL": redis_url,
            "PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{resolver_port}"}))
        wait_until(lambda: answers("127.0.0.1", resolver_port), "pushdock resolver")
        children.append(start([args.caddy, "run", "--config", config],
                              {"XDG_CONFIG_HOME": workdir, "XDG_DATA_HOME": workdir}))
        router = CaddyRouter(f"http://127.0.0.1:{admin}", f"127.0.0.1:{proxy}",
                             resolver=f"udp/127.0.0.1:{resolver_port}", store=store)
        wait_until(router.reachable, "caddy")
        router.ensure_server()
        router.add_route("shop", HOST, f"127.0.0.2:{port}")
        began, cpu = time.monotonic(), cpu_seconds(children[1].pid)
        measure(router, store, f"127.0.0.1:{proxy}", port, args)
        share = (cpu_seconds(children[1].pid) - cpu) / (time.monotonic() - began)
        print(f"  the resolver used {share:.1%} of a core (Caddy's lookups under traffic, "
              "the switches' questions and table reads)")
    finally:
        for server in colors.values():
            server.shutdown()
        for child in reversed(children):
            child.terminate()
            child.wait()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pings(store: Store) -> bool:
    try:
        return bool(store.redis.ping())
    except Exception:
        return False


def measure(router: CaddyRouter, store: Store, listen: str, port: int,
            args: argparse.Namespace) -> None:
    client = Client(listen)
    client.start()
    phases: dict[str, list[float]] = {"admin reads": [], "resolver": [], "caddy wait": [],
                                      "switch": [], "last old request": []}
    failed_before = 0
    spent: dict[str, float] = {}
    # The phases, timed by wrapping what a switch calls (on this router and store only).
    router._get = timed(spent, "admin reads", router._get)  # type: ignore[method-assign]
    upstreams = store.upstreams
    upstreams.get = timed(spent, "admin reads", upstreams.get)  # type: ignore[method-assign]
    router._answer = timed(spent, "resolver", router._answer)  # type: ignore[method-assign]
    for number in range(args.switches):
        time.sleep(0.3)  # traffic on the old color, as before any switch
        new, old = ("green", "blue") if number % 2 == 0 else ("blue", "green")
        address = "127.0.0.3" if new == "green" else "127.0.0.2"
        spent.clear()
        began = time.perf_counter()
        if hasattr(router, "route_now"):  # as a deploy does: the route is read once
            router.set_route("shop", HOST, f"{address}:{port}", router.route_now("shop"))
        else:  # an older tree's router
            router.upstream("shop")
            router.set_route("shop", HOST, f"{address}:{port}")
        took = time.perf_counter() - began
        answered = spent["resolver ended"]
        time.sleep(0.1)
        seen = [each for each in client.seen if each[0] >= began - 1]
        last_old = max((sent for sent, body in seen if body == old), default=answered)
        failed_before += sum(1 for _, body in seen if body == "failed")
        client.seen.clear()
        phases["admin reads"].append(spent.get("admin reads", 0.0))
        phases["resolver"].append(spent["resolver"])
        phases["caddy wait"].append(took - spent.get("admin reads", 0.0) - spent["resolver"])
        phases["switch"].append(took)
        phases["last old request"].append(last_old - answered)
    client.stop.set()
    client.join(timeout=10)
    print(f"{args.switches} switches through the resolver, {args.caddy} "
          f"(ms: median, max; {failed_before} failed requests):")
    for name, values in phases.items():
        ms = [value * 1000 for value in values]
        print(f"  {name:18} {statistics.median(ms):7.1f} {max(ms):7.1f}")


if __name__ == "__main__":
    main()

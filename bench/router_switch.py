"""How long the router takes to switch a route by PATCH (the setup without the resolver),
against a real Caddy on loopback: the admin calls of one switch, without any app.

    .venv/bin/python bench/router_switch.py [--caddy /usr/bin/caddy] [--switches 40]

Run it from an older tree's folder (`cd OLD && python NEW/bench/router_switch.py`) to
measure that tree's router: the modules come from the current folder.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())

from pipeline.deploy.router import CaddyRouter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--caddy", default="/usr/bin/caddy")
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="pd-switch-")
    admin, proxy = free_port(), free_port()
    config = os.path.join(workdir, "caddy.json")
    with open(config, "w") as out:
        json.dump({"admin": {"listen": f"127.0.0.1:{admin}"}}, out)
    caddy = subprocess.Popen([args.caddy, "run", "--config", config],
                             env={**os.environ, "XDG_CONFIG_HOME": workdir,
                                  "XDG_DATA_HOME": workdir},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        router = CaddyRouter(f"http://127.0.0.1:{admin}", f"127.0.0.1:{proxy}")
        deadline = time.monotonic() + 15
        while not router.reachable():
            if time.monotonic() > deadline:
                sys.exit("caddy did not answer")
            time.sleep(0.1)
        router.ensure_server()
        router.add_route("shop", "shop.test", "127.0.0.1:9001")
        took = []
        for i in range(args.switches):
            start = time.perf_counter()
            router.upstream("shop")  # what a deploy reads before it switches
            router.set_route("shop", "shop.test", f"127.0.0.1:{9002 + i % 2}")
            took.append((time.perf_counter() - start) * 1000)
        took.sort()
        print(f"{args.switches} PATCH switches through {args.caddy}: median "
              f"{statistics.median(took):.1f} ms, p90 {took[int(len(took) * 0.9)]:.1f} ms")
    finally:
        caddy.terminate()
        caddy.wait()


if __name__ == "__main__":
    main()

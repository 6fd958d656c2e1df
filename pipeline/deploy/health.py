"""Health checks: N consecutive good answers within a deadline, each probe logged."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.config import HealthSpec
from pipeline.errors import HealthCheckFailed
from pipeline.reporting import Reporter


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str  # "200" or the error


def probe_http(host: str, port: int, path: str, timeout: float,
               host_header: str | None = None) -> Probe:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Host": host_header} if host_header else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return Probe(200 <= response.status < 300, str(response.status))
    except (OSError, http.client.HTTPException) as exc:
        return Probe(False, type(exc).__name__ + (f": {exc}" if str(exc) else ""))
    finally:
        connection.close()


GATEWAY_ERRORS = (502, 503, 504)  # what Caddy answers when it cannot reach the app


def probe_tcp(host: str, port: int, timeout: float) -> Probe:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Probe(True, "connected")
    except OSError as exc:
        return Probe(False, type(exc).__name__ + (f": {exc}" if str(exc) else ""))


def direct_probe(health: HealthSpec, host: str, port: int) -> Callable[[], Probe]:
    """The probe of a new color, straight at its address: HTTP on the path, else TCP."""
    if health.path:
        return lambda: probe_http(host, port, health.path, health.timeout)
    return lambda: probe_tcp(host, port, health.timeout)


def proxy_probe(health: HealthSpec, proxy_host: str, proxy_port: int,
                app_host: str) -> Callable[[], Probe]:
    """The probe through the proxy, by the app's host name.

    Without a health path any answer that is not a gateway error shows the proxy reached
    the app (a TCP connect would only reach the proxy itself).
    """
    if health.path:
        return lambda: probe_http(proxy_host, proxy_port, health.path, health.timeout,
                                  host_header=app_host)

    def reached() -> Probe:
        probe = probe_http(proxy_host, proxy_port, "/", health.timeout, host_header=app_host)
        answered = probe.detail.isdigit() and int(probe.detail) not in GATEWAY_ERRORS
        return Probe(answered, probe.detail)

    return reached


def wait_healthy(check: Callable[[], Probe], spec: HealthSpec, reporter: Reporter, *,
                 alive: Callable[[], str | None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> int:
    """Probe until `healthy_after` consecutive successes; returns the number of probes.

    `alive` returns a reason when the app has died, which ends the wait at once.
    """
    deadline = clock() + spec.deadline
    streak = probes = 0
    while True:
        probes += 1
        probe = check()
        streak = streak + 1 if probe.ok else 0
        reporter.log(f"health {probes}: {probe.detail}" + (
            f" ({streak}/{spec.healthy_after})" if probe.ok else ""))
        if streak >= spec.healthy_after:
            return probes
        dead = alive()
        if dead:
            raise HealthCheckFailed(f"the app stopped during its health check: {dead}")
        if clock() + spec.interval > deadline:
            raise HealthCheckFailed(
                f"not healthy within {spec.deadline:g}s: last probe {probe.detail} "
                f"after {probes} probes ({spec.healthy_after} consecutive 2xx needed)")
        sleep(spec.interval)

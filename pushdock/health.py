"""Whether each part of Pushdock answers: `pushdock healthcheck ROLE`, which the containers'
health checks and `pushdock up`'s readiness waits both run."""

from __future__ import annotations

import socket
from enum import StrEnum

from pipeline.settings import Settings, reachable_host, split_host_port


class Part(StrEnum):
    WEB = "web"
    WORKER = "worker"
    RESOLVER = "resolver"
    CADDY = "caddy"


def http_ok(url: str) -> bool:
    # urllib: a health check loads no more than the standard library.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(200 <= response.status < 300)
    except (OSError, urllib.error.URLError):
        return False


def answers(settings: Settings, part: Part) -> bool:
    if part is Part.RESOLVER:
        from pipeline.deploy import resolver

        host, port = split_host_port(settings.resolver_listen, "PUSHDOCK_RESOLVER_LISTEN")
        return resolver.answers(reachable_host(host), port)
    if part is Part.WEB:
        host, port = split_host_port(settings.bind, "PUSHDOCK_BIND")
        return http_ok(f"http://{reachable_host(host)}:{port}/healthz")
    if part is Part.CADDY:
        from pipeline.deploy.router import CaddyRouter

        return CaddyRouter.from_settings(settings).reachable()
    from pushdock.redis_location import with_redis
    from workers.process import worker_registered

    return worker_registered(with_redis(settings), socket.gethostname())

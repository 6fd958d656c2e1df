"""Pushdock's upstream resolver: a small DNS server Caddy asks where a project's app listens.

Answers come from the upstream table in Redis, read per query (Caddy asks once per refresh
interval, so the load is tiny) and remembered, so a Redis outage does not take the apps
down: the last answers known keep being given until Redis is back.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import redis

from pipeline.deploy.dns import ZONE, answer
from pipeline.deploy.upstreams import UpstreamTable
from pipeline.errors import PushdockError, UpstreamLookupFailed
from pipeline.settings import split_host_port

REDIS_RETRY = 1.0  # seconds answers come from memory alone after Redis failed
MAX_DATAGRAM = 512


class UpstreamResolver:
    def __init__(self, table: UpstreamTable, *, log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.log = log
        self.clock = clock
        self.known: dict[str, str | None] = {}
        self.redis_down = False
        self.redis_down_until = 0.0  # no Redis reads before then

    def lookup(self, project: str) -> str | None:
        if self.clock() >= self.redis_down_until:
            try:
                address = self.table.get(project)
            except redis.RedisError as exc:
                self.redis_down_until = self.clock() + REDIS_RETRY
                if not self.redis_down:
                    self.log(f"Redis unreachable ({exc}); answering from memory")
                self.redis_down = True
            else:
                if self.redis_down:
                    self.redis_down = False
                    self.log("Redis is back")
                self.known[project] = address
                return address
        if project in self.known:
            return self.known[project]
        raise UpstreamLookupFailed(f"nothing known of {project} while Redis is unreachable")

    def warm(self) -> None:
        """Learn every project's answer up front, so an outage right after start is survived."""
        try:
            self.known.update(self.table.all())
        except redis.RedisError as exc:
            self.log(f"Redis unreachable at start ({exc}); answers follow once it is back")

    def serve(self, sock: socket.socket, stop: threading.Event | None = None) -> None:
        sock.settimeout(0.5)  # so a stop request is noticed
        while stop is None or not stop.is_set():
            try:
                data, peer = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:  # e.g. ICMP errors from a peer that went away
                self.log(f"receive failed: {exc}")
                continue
            try:
                response = answer(data, self.lookup)
            except Exception as exc:  # one bad datagram must not stop the answers
                self.log(f"could not answer {peer[0]}:{peer[1]}: {exc!r}")
                continue
            if response is not None:
                try:
                    sock.sendto(response, peer)
                except OSError as exc:
                    self.log(f"could not answer {peer[0]}:{peer[1]}: {exc}")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host or "0.0.0.0", port))
    return sock


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a resolver answers at host:port (a query for a name outside its zone)."""
    query = b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x05probe\x00\x00\x01\x00\x01"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(query, (host, port))
            data, _ = sock.recvfrom(MAX_DATAGRAM)
        except OSError:
            return False
    return data[:2] == query[:2]


def run(redis_url: str, listen: str, *, log: Callable[[str], None] = print) -> None:
    """`pushdock resolver`: answer until the process is stopped."""
    host, port = split_host_port(listen, "PUSHDOCK_RESOLVER_LISTEN")
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=0.5,
                                  socket_connect_timeout=0.5)
    resolver = UpstreamResolver(UpstreamTable(client), log=log)
    resolver.warm()
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise PushdockError(f"cannot listen on {listen} (PUSHDOCK_RESOLVER_LISTEN): "
                            f"{exc.strerror or exc}") from None
    log(f"answering for *.{ZONE}. on udp/{listen}")
    with sock:
        resolver.serve(sock)

"""Pushdock's upstream resolver: a small DNS server Caddy asks where a project's app listens.

Answers come from memory, a copy of the resolver's table in Redis read again as soon as a
change is published (and every few milliseconds in any case), so no query waits on Redis
and a Redis outage does not take the apps down: the last table read keeps being answered
until Redis is back. A switch asks the resolver itself until it answers the new address
(see CaddyRouter.switch), so the copy being a moment behind Redis never lets a deploy go
on too early.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from pipeline.deploy.dns import answer, answer_address, build_query
from pipeline.errors import DnsMessageError, PushdockError, StoreUnavailable, UpstreamLookupFailed
from pipeline.names import ZONE
from pipeline.records.light_redis import LightRedis, LightUpstreams, Subscription
from pipeline.settings import split_host_port

# Seconds between reads of the table when no change is published (a message missed while
# the subscription reconnects, a writer that does not publish).
READ_INTERVAL = 0.05
MAX_DATAGRAM = 512
# Replies kept per table. Caddy asks the same few questions again every refresh interval
# (20 ms), and dnspython takes a few hundred microseconds to read and write each; a client
# sending many different questions only fills this, and past it replies are rendered.
MAX_KEPT_REPLIES = 1024


class UpstreamTable(Protocol):
    """The resolver's table in Redis (Upstreams, or LightUpstreams)."""

    def all(self) -> dict[str, str]: ...


class TableChanges(Protocol):
    """The table's change messages (Subscription, or UpstreamChanges)."""

    def wait(self, timeout: float) -> bool: ...


class NoChanges:
    """No messages: the table is read every READ_INTERVAL only."""

    def wait(self, timeout: float) -> bool:
        time.sleep(timeout)
        return False


def upstream_table(redis_url: str, timeout: float = 0.5) -> UpstreamTable:
    light = LightRedis.from_url(redis_url, timeout)
    if light is not None:
        return LightUpstreams(light)
    # A URL only redis-py follows (TLS, options): the heavier client, then.
    from pipeline.store import Store, connect

    return Store(connect(redis_url, timeout=timeout)).upstreams


def table_changes(redis_url: str, timeout: float = 0.5) -> TableChanges:
    light = LightRedis.from_url(redis_url, timeout)
    if light is not None:
        return Subscription(light)
    from pipeline.records.upstreams import UpstreamChanges
    from pipeline.store import connect

    return UpstreamChanges(connect(redis_url, timeout=timeout))


class UpstreamResolver:
    def __init__(self, table: UpstreamTable, changes: TableChanges | None = None, *,
                 log: Callable[[str], None] = print) -> None:
        self.table_source = table
        self.changes = changes or NoChanges()
        self.log = log
        self.table: dict[str, str] | None = None  # None until Redis was first read
        self.redis_down = False
        # Used by the answering thread alone: replies by question (a query after its id),
        # as rendered from the table `_replies_of`.
        self._replies_of: dict[str, str] | None = None
        self._replies: dict[bytes, bytes] = {}

    def read_table(self) -> None:
        try:
            table = self.table_source.all()
        except StoreUnavailable as exc:
            if not self.redis_down:
                self.log(f"{exc}; answering from the table read last")
            self.redis_down = True
            return
        if self.redis_down:
            self.log("Redis is back")
        self.redis_down = False
        if table != self.table:  # the same table stays the same object: its replies stay
            self.table = table

    def keep_reading(self, stop: threading.Event | None = None) -> None:
        while stop is None or not stop.is_set():
            try:
                self.changes.wait(READ_INTERVAL)  # returns early when a switch is published
                self.read_table()
            except Exception as exc:  # a bug must not stop the reads and leave answers stale
                self.log(f"could not read the table: {type(exc).__name__}: {exc}")

    def lookup(self, project: str) -> str | None:
        table = self.table
        if table is None:
            raise UpstreamLookupFailed("Redis has not been read yet")
        return table.get(project)

    def reply(self, data: bytes) -> bytes | None:
        """answer(data), from the replies kept for the table read last when it has one."""
        table = self.table  # one table for the whole reply, whatever the reads do meanwhile
        if table is None:
            return answer(data, self.lookup)
        if self._replies_of is not table:
            self._replies_of, self._replies = table, {}
        kept = self._replies.get(data[2:])
        if kept is not None:
            return data[:2] + kept  # the reply carries the query's id
        response = answer(data, table.get)
        if response is not None and len(self._replies) < MAX_KEPT_REPLIES:
            self._replies[data[2:]] = response[2:]
        return response

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
            response = self.reply(data)
            if response is not None:
                try:
                    sock.sendto(response, peer)
                except OSError as exc:
                    self.log(f"could not answer {peer[0]}:{peer[1]}: {exc}")


def _udp_socket(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)


def bind(host: str, port: int) -> socket.socket:
    sock = _udp_socket(host)
    sock.bind((host or "0.0.0.0", port))
    return sock


def ask(host: str, port: int, name: str, timeout: float = 1.0) -> tuple[bool, str | None]:
    """(whether a resolver at host:port answered, the A record's address it gave).

    A datagram that is not a readable response to the query sent is no answer.
    """
    query = build_query(name, ident=0x5044)
    with _udp_socket(host) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(query, (host, port))
            data, _ = sock.recvfrom(MAX_DATAGRAM)
        except OSError:
            return False, None
    try:
        return True, answer_address(data, query)
    except DnsMessageError:
        return False, None


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a resolver answers at host:port."""
    return ask(host, port, f"probe.{ZONE}.", timeout)[0]


def run(redis_url: str, listen: str, *, log: Callable[[str], None] = print) -> None:
    """`pushdock resolver`: answer until the process is stopped."""
    host, port = split_host_port(listen, "PUSHDOCK_RESOLVER_LISTEN")
    resolver = UpstreamResolver(upstream_table(redis_url), table_changes(redis_url), log=log)
    resolver.read_table()
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise PushdockError(f"cannot listen on {listen} (PUSHDOCK_RESOLVER_LISTEN): "
                            f"{exc.strerror or exc}") from None
    threading.Thread(target=resolver.keep_reading, daemon=True, name="table").start()
    log(f"answering for *.{ZONE}. on udp/{listen}")
    with sock:
        resolver.serve(sock)

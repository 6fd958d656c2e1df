"""A Redis connection for the processes that must stay small: the resolver reads its table
through it every 50 ms, and `pushdock up` waits for its Redis with it.

Why not redis-py here: importing it costs about 19 MB of memory in every process (it loads
its asyncio client, and asyncio, on import), three times what the resolver needs in all.
This speaks the protocol over one socket and leaves parsing to hiredis, the C parser
redis-py itself uses. It knows only what Pushdock's URLs hold: `unix://PATH` and
`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`; any other URL (TLS, query options) gets None
from `from_url`, and its caller uses redis-py.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

from pipeline.errors import StoreUnavailable
from pipeline.records.keys import UPSTREAMS, UPSTREAMS_CHANGED

DEFAULT_PORT = 6379


@dataclass(frozen=True)
class Address:
    host: str = ""  # "" with a unix socket path
    port: int = DEFAULT_PORT
    path: str = ""  # the unix socket
    username: str = ""
    password: str = ""
    db: int = 0


def parse_url(url: str) -> Address | None:
    """The parts of a URL this client can follow, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.query or parts.fragment:
        return None
    auth = {"username": unquote(parts.username or ""), "password": unquote(parts.password or "")}
    if parts.scheme == "unix" and parts.path:
        return Address(path=parts.path, **auth)
    if parts.scheme != "redis" or not parts.hostname:
        return None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return None
    return Address(host=parts.hostname, port=port or DEFAULT_PORT, db=int(db or 0), **auth)


def encode(*args: str) -> bytes:
    """A command as the protocol's array of bulk strings."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class LightRedis:
    """One connection, opened on first use and again after any failure."""

    def __init__(self, address: Address, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: socket.socket | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float) -> LightRedis | None:
        address = parse_url(url)
        return cls(address, timeout) if address is not None else None

    def command(self, *args: str) -> Any:
        """The reply; StoreUnavailable when Redis cannot be reached or answers an error."""
        try:
            if self._sock is None:
                self._sock = self._connect()
            reply = self._ask(self._sock, *args)
        except (OSError, hiredis.HiredisError, StoreUnavailable) as exc:
            # The connection is of no more use: a reply may be half read, or out of step.
            self.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc
        if isinstance(reply, hiredis.ReplyError):  # the connection itself is fine
            raise StoreUnavailable(f"Redis answered {args[0]} with an error: {reply}")
        return reply

    def ping(self) -> bool:
        try:
            return bool(self.command("PING") == "PONG")
        except StoreUnavailable:
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        a = self.address
        if a.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(a.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((a.host, a.port), timeout=self.timeout)
        try:
            if a.password:
                _ok(self._ask(sock, "AUTH", *([a.username] if a.username else []), a.password),
                    "AUTH")
            if a.db:
                _ok(self._ask(sock, "SELECT", str(a.db)), "SELECT")
        except (OSError, hiredis.HiredisError, StoreUnavailable):
            sock.close()
            raise
        return sock

    def _ask(self, sock: socket.socket, *args: str) -> Any:
        sock.sendall(encode(*args))
        reader = hiredis.Reader(encoding="utf-8")
        while True:
            reply = reader.gets()
            if reply is not False:
                break
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            reader.feed(data)
        return reply


def _ok(reply: Any, command: str) -> None:
    if isinstance(reply, hiredis.ReplyError):
        raise StoreUnavailable(f"Redis answered {command} with an error: {reply}")


class LightUpstreams:
    """The resolver's table (see Upstreams), read through a LightRedis."""

    def __init__(self, client: LightRedis) -> None:
        self.client = client

    def all(self) -> dict[str, str]:
        flat = self.client.command("HGETALL", UPSTREAMS)
        if not isinstance(flat, list) or len(flat) % 2 or not all(
                isinstance(item, str) for item in flat):
            raise StoreUnavailable(f"Redis answered HGETALL {UPSTREAMS} with {flat!r:.80}")
        return dict(zip(flat[::2], flat[1::2], strict=True))


class Subscription:
    """The table's change messages (UPSTREAMS_CHANGED), on a connection of their own that
    is opened on first use and again after any failure."""

    def __init__(self, client: LightRedis) -> None:
        self.client = client  # its address and timeout; its connection stays its own
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader(encoding="utf-8")

    def wait(self, timeout: float) -> bool:
        """True as soon as the table changes, False after `timeout` seconds without a change
        (or without Redis: the caller reads the table after either, as it would on a poll)."""
        deadline = time.monotonic() + timeout
        try:
            if self._sock is None:
                self._subscribe()
            assert self._sock is not None
            while (left := deadline - time.monotonic()) > 0:
                reply = self._reader.gets()
                if reply is False:
                    self._sock.settimeout(left)
                    try:
                        data = self._sock.recv(65536)
                    except TimeoutError:
                        return False
                    if not data:
                        raise ConnectionError("Redis closed the connection")
                    self._reader.feed(data)
                elif isinstance(reply, list) and reply[:1] == ["message"]:
                    return True
            return False
        except (OSError, hiredis.HiredisError, StoreUnavailable):
            self.close()
            time.sleep(max(deadline - time.monotonic(), 0))
            return False

    def _subscribe(self) -> None:
        """Subscribed once Redis confirms it: no change published after this is missed."""
        sock = self.client._connect()
        try:
            reply = self.client._ask(sock, "SUBSCRIBE", UPSTREAMS_CHANGED)
            if not isinstance(reply, list) or reply[:1] != ["subscribe"]:
                raise StoreUnavailable(f"Redis answered SUBSCRIBE with {reply!r:.80}")
        except BaseException:
            sock.close()
            raise
        self._sock, self._reader = sock, hiredis.Reader(encoding="utf-8")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

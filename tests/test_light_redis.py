"""The light Redis client of the small processes, against real redis-servers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipeline.errors import StoreUnavailable
from pipeline.records.light_redis import Address, LightRedis, LightUpstreams, encode, parse_url
from pipeline.store import Store
from tests.support import free_port, missing, pings, wait_for


def test_urls_it_follows_and_those_it_leaves_to_redis_py() -> None:
    assert parse_url("unix:///run/redis/redis.sock") == Address(path="/run/redis/redis.sock")
    assert parse_url("redis://cache:6380/2") == Address(host="cache", port=6380, db=2)
    assert parse_url("redis://:p%40ss@127.0.0.1") == Address(host="127.0.0.1", password="p@ss")
    assert parse_url("redis://ann:pw@h/0") == Address(host="h", username="ann", password="pw")
    for other in ("rediss://cache:6380/0", "redis://cache/0?socket_timeout=3", "redis://cache/x",
                  "redis-sentinel://s/0", "unix://", "redis://:99999999/0"):
        assert parse_url(other) is None, other


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert encode("HGETALL", "pushdock:upstreams") == (
        b"*2\r\n$7\r\nHGETALL\r\n$18\r\npushdock:upstreams\r\n")
    assert encode("SET", "k", "é") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"


def test_it_reads_the_table_redis_py_wrote(store: Store, redis_url: str) -> None:
    store.upstreams.set("shop", "172.18.0.5")
    store.upstreams.set("café", "172.18.0.6")
    light = LightRedis.from_url(redis_url, timeout=1)
    assert light is not None
    assert LightUpstreams(light).all() == store.upstreams.all() == {
        "shop": "172.18.0.5", "café": "172.18.0.6"}
    store.upstreams.remove("shop")
    assert LightUpstreams(light).all() == {"café": "172.18.0.6"}  # the same connection
    assert light.ping()


@pytest.fixture
def guarded_redis() -> Iterator[Path]:
    """A redis-server on a unix socket that wants a password; its socket."""
    binary = shutil.which("redis-server") or missing("redis-server is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="pd-light-"))
    sock = workdir / "redis.sock"
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--requirepass", "s3cret",
         "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(sock), password="s3cret")
    wait_for(lambda: pings(client), timeout=10, what="redis-server")
    client.select(3)
    client.hset("pushdock:upstreams", "shop", "10.0.0.9")
    try:
        yield sock
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_password_a_database_and_a_unix_socket(guarded_redis: Path) -> None:
    # Database 3 of a server that wants a password, as a unix:// URL gives them.
    good = LightRedis(Address(path=str(guarded_redis), password="s3cret", db=3), timeout=1)
    assert LightUpstreams(good).all() == {"shop": "10.0.0.9"}
    wrong = LightRedis(Address(path=str(guarded_redis), password="nope"), timeout=1)
    with pytest.raises(StoreUnavailable, match="AUTH with an error"):
        wrong.command("PING")
    assert not LightRedis(Address(path=str(guarded_redis)), timeout=1).ping()  # NOAUTH


def test_redis_away_and_back(tmp_path: Path) -> None:
    port = free_port()
    light = LightRedis(Address(host="127.0.0.1", port=port), timeout=0.5)
    with pytest.raises(StoreUnavailable, match="Redis is unavailable"):
        light.command("PING")
    binary = shutil.which("redis-server") or missing("redis-server is not installed")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(light.ping, timeout=10, what="the light client to reach redis-server")
        process.terminate()
        process.wait(timeout=10)
        with pytest.raises(StoreUnavailable):
            light.command("PING")  # the open connection is gone with the server
    finally:
        if process.poll() is None:
            process.kill()


def test_a_reply_that_is_not_redis_is_unavailable_not_a_crash() -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")  # not the protocol at all

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    light = LightRedis(Address(host="127.0.0.1", port=server.getsockname()[1]), timeout=2)
    with pytest.raises(StoreUnavailable, match="Redis is unavailable"):
        light.command("PING")
    thread.join(5)
    server.close()
    assert light._sock is None  # a half-read connection is not used again


def test_an_error_reply_keeps_the_connection(store: Store, redis_url: str) -> None:
    store.redis.set("pushdock:upstreams", "not a hash")
    light = LightRedis.from_url(redis_url, timeout=1)
    assert light is not None
    with pytest.raises(StoreUnavailable, match="HGETALL with an error: WRONGTYPE"):
        LightUpstreams(light).all()
    kept = light._sock
    assert kept is not None and light.ping() and light._sock is kept

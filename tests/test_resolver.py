"""Pushdock's upstream resolver, and routes through it on a real Caddy."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from bench.upstream import VersionServer
from pipeline.deploy.dns import answer, answer_address, build_query
from pipeline.deploy.resolver import (
    MAX_DATAGRAM,
    TableChanges,
    UpstreamResolver,
    UpstreamTable,
    ask,
    table_changes,
    upstream_table,
)
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import RouterError, UpstreamLookupFailed
from pipeline.records.light_redis import LightUpstreams, Subscription
from pipeline.records.upstreams import UpstreamChanges
from pipeline.store import Store, connect
from tests.conftest import CaddyProcess
from tests.support import free_port, wait_for
from tests.test_dns import LIVE, datagrams, parsed, query


@pytest.fixture
def colors() -> Iterator[tuple[VersionServer, VersionServer]]:
    """Blue and green on two addresses and one port, as two app containers are."""
    port = free_port()
    servers = (VersionServer("blue", "127.0.0.2", port), VersionServer("green", "127.0.0.3", port))
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def router(caddy: CaddyProcess, store: Store, resolver_server: str) -> CaddyRouter:
    return CaddyRouter(caddy.admin_url, caddy.proxy_listen, resolver=f"udp/{resolver_server}",
                       store=store)


def lookup(resolver_server: str, name: str) -> tuple[int, list[str]]:
    host, port = resolver_server.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query(name), (host, int(port)))
        reply, _ = sock.recvfrom(512)
    _, _, rcode, addresses = parsed(reply)
    return rcode, addresses


def config_bytes(caddy: CaddyProcess) -> bytes:
    with urllib.request.urlopen(f"{caddy.admin_url}/config/", timeout=5) as response:
        return bytes(response.read())


def test_the_resolver_answers_from_its_table(resolver_server: str, store: Store) -> None:
    assert lookup(resolver_server, "shop.pushdock.") == (3, [])  # NXDOMAIN
    store.upstreams.set("shop", "172.18.0.5")
    wait_for(lambda: lookup(resolver_server, "shop.pushdock.") == (0, ["172.18.0.5"]),
             timeout=2, what="the new answer")
    store.upstreams.set("shop", "172.18.0.6")
    wait_for(lambda: lookup(resolver_server, "shop.pushdock.") == (0, ["172.18.0.6"]),
             timeout=2, what="the changed answer")
    store.upstreams.remove("shop")
    wait_for(lambda: lookup(resolver_server, "shop.pushdock.") == (3, []), timeout=2,
             what="no answer")


@pytest.mark.parametrize("light", [True, False], ids=["light client", "redis-py"])
def test_answers_outlive_a_redis_outage(store: Store, redis_url: str, light: bool) -> None:
    def table(url: str) -> UpstreamTable:
        return upstream_table(url) if light else Store(connect(url, timeout=0.5)).upstreams

    store.upstreams.set("shop", "172.18.0.5")
    lines: list[str] = []
    resolver = UpstreamResolver(table(redis_url), log=lines.append)
    assert isinstance(resolver.table_source, LightUpstreams) is light
    with pytest.raises(UpstreamLookupFailed):
        resolver.lookup("shop")  # nothing read yet
    resolver.read_table()
    resolver.table_source = table(f"redis://127.0.0.1:{free_port()}/0")
    resolver.read_table()
    assert resolver.lookup("shop") == "172.18.0.5"
    assert resolver.lookup("cart") is None
    assert any("answering from the table read last" in line for line in lines)
    resolver.table_source = table(redis_url)
    store.upstreams.set("shop", "172.18.0.9")
    resolver.read_table()
    assert resolver.lookup("shop") == "172.18.0.9"
    assert lines[-1] == "Redis is back"


@pytest.mark.parametrize("light", [True, False], ids=["light client", "redis-py"])
def test_a_published_change_ends_the_wait(store: Store, redis_url: str, light: bool) -> None:
    changes: TableChanges = (table_changes(redis_url) if light
                             else UpstreamChanges(connect(redis_url, timeout=0.5)))
    assert isinstance(changes, Subscription) is light
    assert changes.wait(0) is False  # subscribes, and nothing was published since
    store.upstreams.set("shop", "172.18.0.5")
    assert changes.wait(30) is True
    store.upstreams.remove("shop")
    assert changes.wait(30) is True
    assert changes.wait(0.1) is False


def test_a_wait_without_redis_ends_at_its_timeout(redis_url: str) -> None:
    changes = table_changes(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    assert changes.wait(0.2) is False
    assert time.monotonic() - started >= 0.2  # no busy loop while Redis is away


def test_the_resolver_reads_the_table_when_it_changes(
        store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not on its next poll: with polls an hour apart the answer still changes at once."""
    monkeypatch.setattr("pipeline.deploy.resolver.READ_INTERVAL", 3600)
    resolver = UpstreamResolver(upstream_table(redis_url), table_changes(redis_url))
    resolver.read_table()
    stop = threading.Event()
    reader = threading.Thread(target=resolver.keep_reading, args=(stop,), daemon=True)
    reader.start()
    wait_for(lambda: isinstance(resolver.changes, Subscription)
             and resolver.changes._sock is not None, timeout=5, what="the subscription")
    store.upstreams.set("shop", "172.18.0.7")
    wait_for(lambda: resolver.lookup("shop") == "172.18.0.7", timeout=5, what="the new answer")
    stop.set()
    store.upstreams.set("shop", "172.18.0.8")  # ends the last wait
    reader.join(timeout=5)
    assert not reader.is_alive()


class TableOf:
    """A table read from a dict: a new dict on every read, as from Redis."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def all(self) -> dict[str, str]:
        return dict(self.table)


def test_kept_replies_are_those_of_the_table_answered_from() -> None:
    source = TableOf({"shop": "172.18.0.5"})
    resolver = UpstreamResolver(source)
    resolver.read_table()
    first = resolver.reply(build_query("shop.pushdock.", ident=1))
    resolver.read_table()  # the same table again: its replies are kept
    kept = resolver.reply(build_query("shop.pushdock.", ident=2))
    assert kept == answer(build_query("shop.pushdock.", ident=2), source.table.get)
    assert kept != first and kept[2:] == first[2:]  # only the id differs
    source.table["shop"] = "172.18.0.6"
    resolver.read_table()
    query = build_query("shop.pushdock.", ident=3)
    assert answer_address(resolver.reply(query), query) == "172.18.0.6"
    assert resolver.reply(b"\x00\x07") is None  # too short to be a query: no reply


def reply_once(make_reply: Callable[[bytes], bytes]) -> tuple[int, threading.Thread]:
    """A UDP peer on loopback that replies make_reply(query) to one query; its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def serve() -> None:
        with sock:
            data, peer = sock.recvfrom(512)
            sock.sendto(make_reply(data), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock.getsockname()[1], thread


def reply_to(data: bytes) -> bytes:
    reply = answer(data, LIVE.get)
    assert reply is not None
    return reply


@pytest.mark.parametrize("make_reply", [
    lambda data: b"",
    lambda data: data[:1],
    lambda data: reply_to(data)[:-2],  # cut in the answer
    lambda data: reply_to(data)[:20],  # cut in the question
    lambda data: data,  # the query sent back
    lambda data: reply_to(b"\x00\x01" + data[2:]),  # another id
    lambda data: reply_to(build_query("cart.pushdock.", ident=0x5044)),  # another question
    lambda data: reply_to(data)[:-6] + b"\x00\xff" + reply_to(data)[-4:],  # past its end
], ids=["empty", "one byte", "cut answer", "cut question", "echo", "id", "question", "rdlen"])
def test_an_unreadable_reply_is_no_answer(make_reply: Callable[[bytes], bytes]) -> None:
    port, peer = reply_once(make_reply)
    assert ask("127.0.0.1", port, "shop.pushdock.") == (False, None)
    peer.join(timeout=5)
    assert not peer.is_alive()


def test_a_readable_reply_is_an_answer() -> None:
    port, peer = reply_once(reply_to)
    assert ask("127.0.0.1", port, "shop.pushdock.") == (True, "10.1.2.3")
    peer.join(timeout=5)


@pytest.fixture
def shop_server(resolver_server: str, store: Store) -> tuple[str, int]:
    """The resolver's address, once it answers shop's address."""
    store.upstreams.set("shop", LIVE["shop"])
    wait_for(lambda: lookup(resolver_server, "shop.pushdock.") == (0, [LIVE["shop"]]),
             timeout=2, what="shop's address")
    host, port = resolver_server.rsplit(":", 1)
    return host, int(port)


def replies_before_a_good_query(server: tuple[str, int], datagram: bytes) -> list[bytes]:
    """What the resolver sends back for `datagram`: the datagrams that come before its reply
    to a good query sent right after it, as it answers one datagram after the other."""
    ident = (int.from_bytes(datagram[:2], "big") + 1) & 0xFFFF  # not the datagram's
    probe = build_query("shop.pushdock.", ident=ident)
    expected = answer(probe, LIVE.get)
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(datagram, server)
        sock.sendto(probe, server)
        try:
            while (reply := sock.recvfrom(4096)[0]) != expected:
                replies.append(reply)
        except TimeoutError:
            raise AssertionError("the resolver no longer answers a good query") from None
    return replies


# No shrinking: once the resolver is gone, every smaller datagram fails too, each after
# waiting out the timeout.
@settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datagram=datagrams)
def test_no_datagram_stops_the_resolver_and_no_response_is_answered(
        shop_server: tuple[str, int], datagram: bytes) -> None:
    replies = replies_before_a_good_query(shop_server, datagram)
    read = datagram[:MAX_DATAGRAM]  # the resolver reads no more of a datagram
    if len(read) < 12 or read[2] & 0x80:
        assert replies == []
    else:
        assert len(replies) == 1
        assert replies[0][:2] == read[:2]
        assert replies[0][2] & 0x80  # a response, which no server answers


def proxy_connection(caddy: CaddyProcess) -> http.client.HTTPConnection:
    host, port = caddy.proxy_listen.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)


def keep_alive_get(connection: http.client.HTTPConnection, host: str) -> str:
    connection.request("GET", "/", headers={"Host": host})
    response = connection.getresponse()
    return response.read().decode()


def test_a_switch_changes_no_caddy_config_and_keeps_connections_open(
        caddy: CaddyProcess, router: CaddyRouter, colors) -> None:
    blue, green = colors
    router.set_route("shop", "shop.test", blue.upstream)
    connection = proxy_connection(caddy)
    assert keep_alive_get(connection, "shop.test") == "blue"
    local = connection.sock.getsockname()
    before = config_bytes(caddy)

    router.switch("shop", green.upstream)

    assert config_bytes(caddy) == before
    assert keep_alive_get(connection, "shop.test") == "green"  # on the same connection
    assert connection.sock.getsockname() == local
    assert router.upstream("shop") == green.upstream
    assert router.routes() == {"shop": green.upstream}
    connection.close()


def test_a_config_change_closes_idle_connections(caddy: CaddyProcess, colors) -> None:
    """Why switches go through the resolver: what a PATCH of the upstreams does."""
    blue, green = colors
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    router.set_route("shop", "shop.test", blue.upstream)
    connection = proxy_connection(caddy)
    assert keep_alive_get(connection, "shop.test") == "blue"
    router.switch("shop", green.upstream)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        keep_alive_get(connection, "shop.test")
    connection.close()


def test_a_new_port_is_written_to_the_route(caddy: CaddyProcess, router: CaddyRouter,
                                            colors) -> None:
    blue, _ = colors
    other = VersionServer("green on another port", "127.0.0.3", free_port())
    try:
        router.set_route("shop", "shop.test", blue.upstream)
        router.set_route("shop", "shop.test", other.upstream)
        connection = proxy_connection(caddy)
        assert keep_alive_get(connection, "shop.test") == "green on another port"
        assert router.upstream("shop") == other.upstream
        connection.close()
    finally:
        other.shutdown()
        other.server_close()


def test_removing_a_route_removes_its_answer(router: CaddyRouter, store: Store,
                                             colors) -> None:
    blue, _ = colors
    router.set_route("shop", "shop.test", blue.upstream)
    assert store.upstreams.get("shop") == "127.0.0.2"
    router.remove_route("shop")
    assert router.upstream("shop") is None
    assert store.upstreams.get("shop") is None


def test_routes_of_either_kind_are_switched_by_the_other(caddy: CaddyProcess,
                                                         router: CaddyRouter, colors) -> None:
    """Turning the resolver on or off (PUSHDOCK_RESOLVER) takes effect at the next switch."""
    blue, green = colors
    patching = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    patching.set_route("shop", "shop.test", blue.upstream)
    router.switch("shop", green.upstream)
    assert keep_alive_get(proxy_connection(caddy), "shop.test") == "green"
    patching.switch("shop", blue.upstream)
    assert keep_alive_get(proxy_connection(caddy), "shop.test") == "blue"
    assert patching.upstream("shop") == blue.upstream


def test_a_switch_the_resolver_does_not_confirm_changes_nothing(
        caddy: CaddyProcess, store: Store, colors) -> None:
    """No resolver answers: the route keeps its kind and its upstream, blue keeps serving."""
    blue, green = colors
    CaddyRouter(caddy.admin_url, caddy.proxy_listen).set_route("shop", "shop.test",
                                                               blue.upstream)
    before = config_bytes(caddy)
    nowhere = CaddyRouter(caddy.admin_url, caddy.proxy_listen,
                          resolver=f"udp/127.0.0.1:{free_port()}", store=store)
    started = time.monotonic()
    with pytest.raises(RouterError, match="does not answer for shop"):
        nowhere.switch("shop", green.upstream)
    assert time.monotonic() - started < 10
    assert config_bytes(caddy) == before
    assert keep_alive_get(proxy_connection(caddy), "shop.test") == "blue"

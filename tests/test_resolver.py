"""Pushdock's upstream resolver, and routes through it on a real Caddy."""

from __future__ import annotations

import http.client
import http.server
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from pipeline.deploy.resolver import UpstreamResolver
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import RouterError, UpstreamLookupFailed
from pipeline.store import Store, connect
from tests.conftest import CaddyProcess
from tests.support import free_port, wait_for
from tests.test_dns import parsed, query
from tests.test_router import VersionServer


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


def ask(resolver_server: str, name: str) -> tuple[int, list[str]]:
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
    assert ask(resolver_server, "shop.pushdock.") == (3, [])  # NXDOMAIN
    store.set_upstream_address("shop", "172.18.0.5")
    wait_for(lambda: ask(resolver_server, "shop.pushdock.") == (0, ["172.18.0.5"]),
             timeout=2, what="the new answer")
    store.set_upstream_address("shop", "172.18.0.6")
    wait_for(lambda: ask(resolver_server, "shop.pushdock.") == (0, ["172.18.0.6"]),
             timeout=2, what="the changed answer")
    store.remove_upstream_address("shop")
    wait_for(lambda: ask(resolver_server, "shop.pushdock.") == (3, []), timeout=2,
             what="no answer")


def test_answers_outlive_a_redis_outage(store: Store) -> None:
    store.set_upstream_address("shop", "172.18.0.5")
    lines: list[str] = []
    resolver = UpstreamResolver(store, log=lines.append)
    with pytest.raises(UpstreamLookupFailed):
        resolver.lookup("shop")  # nothing read yet
    resolver.read_table()
    resolver.store = Store(connect(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5))
    resolver.read_table()
    assert resolver.lookup("shop") == "172.18.0.5"
    assert resolver.lookup("cart") is None
    assert any("answering from the table read last" in line for line in lines)
    resolver.store = store
    store.set_upstream_address("shop", "172.18.0.9")
    resolver.read_table()
    assert resolver.lookup("shop") == "172.18.0.9"
    assert lines[-1] == "Redis is back"


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
    assert store.upstream_address("shop") == "127.0.0.2"
    router.remove_route("shop")
    assert router.upstream("shop") is None
    assert store.upstream_address("shop") is None


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

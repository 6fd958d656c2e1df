"""The Caddy router against a real Caddy."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from pipeline.deploy.router import CaddyRouter
from pipeline.errors import RouterError
from tests.conftest import CaddyProcess


class VersionServer(http.server.ThreadingHTTPServer):
    def __init__(self, version: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = version.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def upstreams() -> Iterator[tuple[VersionServer, VersionServer]]:
    servers = (VersionServer("blue"), VersionServer("green"))
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def get(caddy: CaddyProcess, host: str) -> str:
    request = urllib.request.Request(f"http://{caddy.proxy_listen}/", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def test_routes_are_created_and_switched(caddy: CaddyProcess, upstreams) -> None:
    blue, green = upstreams
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    assert router.upstream("shop") is None
    router.set_route("shop", "shop.test", blue.upstream)
    assert get(caddy, "shop.test") == "blue"
    router.set_route("shop", "shop.test", green.upstream)
    assert get(caddy, "shop.test") == "green"
    assert router.upstream("shop") == green.upstream
    router.set_route("cart", "cart.test", blue.upstream)
    assert get(caddy, "cart.test") == "blue"
    assert get(caddy, "shop.test") == "green"
    router.remove_route("cart")
    assert router.upstream("cart") is None
    assert get(caddy, "cart.test") == ""  # Caddy's empty answer: no route matched


def test_config_it_does_not_own_is_kept(tmp_path, upstreams) -> None:
    blue, _ = upstreams
    other_port = blue.server_address[1] + 1
    foreign = {"apps": {"http": {"servers": {"other": {
        "listen": [f"127.0.0.1:{other_port}"],
        "routes": [{"handle": [{"handler": "static_response", "body": "theirs"}]}]}}}}}
    caddy = CaddyProcess(tmp_path / "caddy", config=foreign)
    caddy.start()
    try:
        router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
        router.set_route("shop", "shop.test", blue.upstream)
        assert get(caddy, "shop.test") == "blue"
        with urllib.request.urlopen(f"{caddy.admin_url}/config/apps/http/servers/other") as r:
            assert json.load(r)["routes"][0]["handle"][0]["body"] == "theirs"
    finally:
        caddy.stop()


def test_unreachable_admin_api_is_a_clear_error() -> None:
    router = CaddyRouter("http://127.0.0.1:9", ":8000", timeout=1)
    assert not router.reachable()
    with pytest.raises(RouterError, match="unreachable"):
        router.set_route("shop", "shop.test", "127.0.0.1:1")

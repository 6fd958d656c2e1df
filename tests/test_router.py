"""The Caddy router against a real Caddy."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bench.upstream import VersionServer
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import RouterError
from tests.conftest import CaddyProcess
from tests.support import CADDY_BINARIES, caddy_binary, free_port


class LosingProxy(http.server.ThreadingHTTPServer):
    """Forwards to Caddy's admin API, and loses Caddy's answer to the first `lose` requests
    of `method`: the connection closes once Caddy has done the request, as when Caddy
    restarts its admin endpoint. `seen` holds (method, path, Caddy's status) of each."""

    def __init__(self, admin_url: str, method: str, lose: int = 1) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.to_lose = lose
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() in ("content-type", "if-match")}
                request = urllib.request.Request(
                    admin_url + self.path, data=self.rfile.read(length) if length else None,
                    headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, body = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                proxy.seen.append((self.command, self.path, status))
                if self.command == method and proxy.to_lose > 0:
                    proxy.to_lose -= 1
                    self.close_connection = True  # no answer at all
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> LosingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


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
    other_port = free_port()  # a neighbour of an ephemeral port may well be taken
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


def test_server_gets_a_grace_period_and_no_automatic_https(caddy: CaddyProcess,
                                                           upstreams) -> None:
    blue, _ = upstreams
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    router.set_route("shop", "shop.test", blue.upstream)
    with urllib.request.urlopen(f"{caddy.admin_url}/config/apps/http") as response:
        http = json.load(response)
    assert http["grace_period"] == "10s"
    assert http["servers"]["pushdock"]["automatic_https"] == {"disable": True}
    assert http["servers"]["pushdock"]["listen"] == [caddy.proxy_listen]


def test_a_stale_etag_is_refused_so_no_write_is_lost(caddy: CaddyProcess) -> None:
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    router.ensure_server()
    _, etag = router._config()
    assert router._write_if_unchanged(("POST", "/config/apps/http/servers/pushdock/routes",
                                       {"@id": "pushdock-a", "terminal": True}), etag)
    # The same precondition again: the config changed since, so Caddy refuses the write.
    assert not router._write_if_unchanged(
        ("PUT", "/config/apps/http/servers/pushdock/routes/0",
         {"@id": "pushdock-b", "terminal": True}), etag)
    assert sorted(router.routes()) == ["a"]


def test_concurrent_route_creation_loses_no_route(caddy: CaddyProcess, upstreams) -> None:
    blue, _ = upstreams
    projects = [f"p{number}" for number in range(8)]
    errors: list[BaseException] = []

    def add(project: str) -> None:
        try:
            CaddyRouter(caddy.admin_url, caddy.proxy_listen).set_route(
                project, f"{project}.test", blue.upstream)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(p,)) for p in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    assert sorted(router.routes()) == projects
    for project in projects:
        assert get(caddy, f"{project}.test") == "blue"


def test_switch_is_one_patch_of_the_upstreams(caddy: CaddyProcess, upstreams) -> None:
    blue, green = upstreams
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    router.set_route("shop", "shop.test", blue.upstream)
    router.switch("shop", green.upstream)
    assert get(caddy, "shop.test") == "green"
    with pytest.raises(RouterError, match="no route of nothing"):
        router.switch("nothing", green.upstream)


def test_automatic_https_is_a_setting() -> None:
    from pipeline.settings import Settings

    assert CaddyRouter.from_settings(Settings.from_env({})).https is False
    router = CaddyRouter.from_settings(Settings.from_env({"PUSHDOCK_PROXY_HTTPS": "1"}))
    assert router.https is True


def test_a_delete_asked_again_after_its_answer_was_lost_is_done(caddy: CaddyProcess,
                                                                upstreams) -> None:
    blue, _ = upstreams
    CaddyRouter(caddy.admin_url, caddy.proxy_listen).set_route("shop", "shop.test",
                                                               blue.upstream)
    with LosingProxy(caddy.admin_url, "DELETE") as proxy:
        CaddyRouter(proxy.url, caddy.proxy_listen).remove_route("shop")
    # Asked again on a new connection, the DELETE that had worked meets an unknown @id.
    assert [seen for seen in proxy.seen if seen[0] == "DELETE"] == [
        ("DELETE", "/id/pushdock-shop", 200), ("DELETE", "/id/pushdock-shop", 404)]
    assert CaddyRouter(caddy.admin_url, caddy.proxy_listen).upstream("shop") is None
    assert get(caddy, "shop.test") == ""


def test_a_conditional_write_asked_again_after_it_worked_is_refused(
        caddy: CaddyProcess) -> None:
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    router.ensure_server()
    _, etag = router._config()
    write = ("POST", "/config/apps/http/servers/pushdock/routes",
             {"@id": "pushdock-a", "terminal": True})
    with LosingProxy(caddy.admin_url, "POST") as proxy:
        assert not CaddyRouter(proxy.url, caddy.proxy_listen)._write_if_unchanged(write, etag)
    assert [status for method, _, status in proxy.seen if method == "POST"] == [200, 412]
    assert sorted(router.routes()) == ["a"]  # once, not twice


def test_the_probe_asks_once(caddy: CaddyProcess) -> None:
    with LosingProxy(caddy.admin_url, "GET") as proxy:
        assert not CaddyRouter(proxy.url, caddy.proxy_listen).reachable()
        assert len(proxy.seen) == 1
        assert CaddyRouter(proxy.url, caddy.proxy_listen).reachable()


def test_a_request_that_timed_out_is_not_asked_again() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        router = CaddyRouter(f"http://127.0.0.1:{silent.getsockname()[1]}", ":8000",
                             timeout=0.5)
        with pytest.raises(RouterError, match="unreachable: timed out"):
            router.upstream("shop")
        # Every connection the router opened waits in the backlog, accepted or not.
        silent.setblocking(False)
        connections = []
        with contextlib.suppress(BlockingIOError):
            while True:
                connections.append(silent.accept()[0])
    for connection in connections:
        connection.close()
    assert len(connections) == 1


def test_both_caddy_generations_are_tested() -> None:
    versions = {}
    for kind in CADDY_BINARIES:
        answer = subprocess.run([caddy_binary(kind), "version"], capture_output=True,
                                text=True, check=True, timeout=30)
        major, minor = answer.stdout.split()[0].removeprefix("v").split(".")[:2]
        versions[kind] = (int(major), int(minor))
    assert versions["caddy-debian"] == (2, 6)
    assert versions["caddy-current"] >= (2, 11)

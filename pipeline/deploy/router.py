"""Caddy, driven through its admin API: one server Pushdock owns, one route per project.

Only paths Pushdock owns are written (its server, and routes tagged with its @id), so
config that other tools put into the same Caddy is never overwritten. Writes that depend
on what the config held a moment before (creating the server or a route) carry Caddy's
ETag in If-Match and are retried when someone else changed the config in between, so
concurrent deploys never lose a route.

A route asks Pushdock's upstream resolver where its app listens, so a switch is a change
of the resolver's answer and not of Caddy's config: Caddy restarts its servers on every
config change, and the restart closes idle keep-alive connections that a client may be
sending its next request on. Without a resolver a switch is one PATCH of the upstreams.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pipeline.deploy.plan import (
    GRACE_PERIOD,
    REFRESH_SECONDS,
    SERVER,
    ConfigWrite,
    next_server_write,
    proxy_handler,
    pushdock_routes,
    route_insert,
    route_port,
    route_upstream,
)
from pipeline.errors import RouterConflict, RouterError
from pipeline.names import route_id, upstream_name
from pipeline.settings import Settings, resolver_host_port
from pipeline.units import parse_duration
from pipeline.upstream import (
    Upstream,
    join_addresses,
    join_upstreams,
    parse_upstreams,
    split_addresses,
)

if TYPE_CHECKING:
    from pipeline.deploy.caddy_admin import AdminAPI
    from pipeline.store import Store

SERVER_PATH = f"/config/apps/http/servers/{SERVER}"
_ATTEMPTS = 20  # compare-and-set retries when others keep changing the config
# Seconds beyond Caddy's refresh for an answer of the old address still on its way to Caddy
# when the resolver first answered the new one (loopback or a bridge: well under this).
SWITCH_MARGIN = 0.01
RESOLVER_CONFIRM = 5.0  # seconds the resolver may take to answer a switch's new address


@dataclass(frozen=True)
class RouteNow:
    """A project's route as read from Caddy (None: no route) and where it sends requests."""

    config: Any
    upstream: str | None


def config_etag(path: str, body: bytes) -> str:
    """Caddy's ETag of a config read before 2.8: the path and the FNV-1a 32 hash of the
    bytes sent. Those versions send it as an HTTP trailer, which requests (urllib3) drops,
    so it is computed the same way.
    """
    value = 0x811C9DC5
    for byte in body:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f'"{path} {value:08x}"'


class CaddyRouter:
    def __init__(self, admin_url: str, listen: str, timeout: float | None = None, *,
                 https: bool = False, grace_period: str = GRACE_PERIOD,
                 resolver: str | None = None, store: Store | None = None) -> None:
        self.admin_url = admin_url.rstrip("/")
        # Caddy's address of Pushdock's upstream resolver (udp/HOST:PORT); None: routes
        # name their upstream themselves and a switch is a config change.
        self.resolver = resolver
        self.store = store  # holds the resolver's table
        self.listen = listen
        self.https = https
        self.grace_period = grace_period
        # A config change returns once the old server has shut down, which can take the
        # whole grace period while long requests finish.
        self.timeout = timeout if timeout is not None else parse_duration(grace_period) + 10
        self._admin: AdminAPI | None = None  # made on the first request

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> CaddyRouter:
        """`store` holds the resolver's table: routes need it once they are written."""
        return cls(settings.caddy_admin, settings.proxy_listen, https=settings.proxy_https,
                   resolver=settings.resolver, store=store)

    # -- admin API plumbing -----------------------------------------------------------------
    @property
    def _api(self) -> AdminAPI:
        if self._admin is None:
            from pipeline.deploy.caddy_admin import AdminAPI  # loads requests: only now

            self._admin = AdminAPI(self.admin_url, self.timeout)
        return self._admin

    def _request(self, method: str, path: str, body: Any = None,
                 if_match: str | None = None) -> bytes:
        return self._api.request(method, path, body, if_match)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return _json(self._request(method, path, body))

    def _get(self, path: str) -> Any:
        """The config at an /id/ path, or None when Caddy knows no such @id (it answers 404)."""
        response = self._api.send("GET", path)
        if response.status_code == HTTPStatus.NOT_FOUND:
            return None
        return _json(self._api.checked(response, "GET", path))

    def _config(self) -> tuple[Any, str]:
        response = self._api.send("GET", "/config/")
        body = self._api.checked(response, "GET", "/config/")
        # Caddy 2.8 and later send the ETag as a header (of a 64-bit hash); earlier ones
        # only as a trailer, which is computed here the same way.
        return _json(body), response.headers.get("Etag") or config_etag("/config/", body)

    def _write_if_unchanged(self, write: ConfigWrite, etag: str) -> bool:
        method, path, body = write
        try:
            self._request(method, path, body, if_match=etag)
        except RouterConflict:
            return False
        return True

    def reachable(self) -> bool:
        return self._api.reachable()

    # -- the server Pushdock owns -----------------------------------------------------------
    def ensure_server(self) -> Any:
        """Create what is missing of Pushdock's server; returns the config as it is then."""
        for _ in range(_ATTEMPTS):
            config, etag = self._config()
            write = next_server_write(config, self.listen, https=self.https,
                                      grace_period=self.grace_period)
            if write is None:
                return config
            self._write_if_unchanged(write, etag)
        raise RouterError("Caddy's config kept changing while Pushdock set up its server")

    # -- routes -----------------------------------------------------------------------------
    def _upstream_of(self, project: str, route: Any,
                     addresses: dict[str, str] | None = None) -> str | None:
        """`addresses`: the resolver's whole table when it was read already."""
        if route is None:
            return None
        port = route_port(route)
        if port is None:
            return route_upstream(route)
        address = (addresses.get(project) if addresses is not None
                   else self._store().upstreams.get(project))
        return join_upstreams(Upstream(each, int(port)) for each in split_addresses(address)) \
            if address else None

    def _store(self) -> Store:
        if self.store is None:
            raise RouterError("routes through the resolver need Redis for the resolver's table")
        return self.store

    def _answer(self, project: str, upstream: str) -> None:
        """Have the resolver answer `upstream`'s address for the project, and wait until it
        does: then, one refresh interval on, Caddy sends every new request there."""
        # Imported here: the DNS library is needed only by a switch, not by every process
        # that holds a router (the supervisor, a worker at rest).
        from pipeline.deploy.resolver import ask

        address = _address(upstream)
        self._store().upstreams.set(project, address)
        assert self.resolver is not None
        host, port = resolver_host_port(self.resolver)
        deadline = time.monotonic() + RESOLVER_CONFIRM
        while True:
            answered, given = ask(host, port, upstream_name(project), timeout=0.5)
            if given == address:
                return
            if time.monotonic() > deadline:
                raise RouterError(
                    f"the resolver at {host}:{port} "
                    + (f"still answers {given or 'nothing'}" if answered else "does not answer")
                    + f" for {project}, not {address} (is `pushdock resolver` running?)")
            time.sleep(0.002)  # the resolver reads the table as soon as it is published

    def upstream(self, project: str) -> str | None:
        """Where the project's route sends requests now, or None without a route."""
        return self.route_now(project).upstream

    def route_now(self, project: str) -> RouteNow:
        route = self._get(f"/id/{route_id(project)}")
        return RouteNow(route, self._upstream_of(project, route))

    def routes(self) -> dict[str, str | None]:
        """Pushdock's routes now: project → upstream."""
        config, _ = self._config()
        routes = pushdock_routes(config)
        addresses = (self._store().upstreams.all()
                     if any(route_port(route) is not None for route in routes.values())
                     else None)
        return {project: self._upstream_of(project, route, addresses)
                for project, route in routes.items()}

    def switch(self, project: str, upstream: str) -> None:
        """Point an existing route at another upstream.

        Through the resolver this changes no Caddy config (unless the port changed): the
        answer changes, and every request after one refresh interval goes to `upstream`.
        Without it, the switch is one PATCH of the route's upstreams.
        """
        route = self._get(f"/id/{route_id(project)}")
        if route is None:
            raise RouterError(f"Caddy has no route of {project} to switch")
        self._switch(project, route, upstream)

    def _switch(self, project: str, route: Any, upstream: str) -> None:
        path = f"/id/{route_id(project)}/handle/0"
        if self.resolver is not None:
            self._answer(project, upstream)
        handler = proxy_handler(project, upstream, self.resolver)
        if route.get("handle") != [handler]:
            if self.resolver is None and route_upstream(route) is not None:
                self._call("PATCH", f"{path}/upstreams", handler["upstreams"])
            else:  # another port, or a route of the other kind of setup
                self._call("PATCH", path, handler)
        if self.resolver is not None:
            time.sleep(REFRESH_SECONDS + SWITCH_MARGIN)

    def set_route(self, project: str, host: str, upstream: str,
                  now: RouteNow | None = None) -> None:
        """Point the project's route at `upstream`, creating it (and the server) if missing.

        `now`: the route as route_now read it a moment ago under the project's deploy lock,
        so a switch does not wait on reading it again.
        """
        if now is None or now.config is None:  # no route then: one may have been made since
            now = self.route_now(project)
        route = now.config
        if route is not None:
            if route.get("match") != [{"host": [host]}]:
                self._call("PATCH", f"/id/{route_id(project)}/match", [{"host": [host]}])
            if now.upstream != upstream or route.get("handle") != [
                    proxy_handler(project, upstream, self.resolver)]:
                self._switch(project, route, upstream)
            return
        self.add_route(project, host, upstream)

    def add_route(self, project: str, host: str, upstream: str) -> bool:
        """Create the route unless it exists; True when this call created it."""
        for _ in range(_ATTEMPTS):
            self.ensure_server()
            config, etag = self._config()
            if project in pushdock_routes(config):
                return False
            if next_server_write(config, self.listen, https=self.https,
                                 grace_period=self.grace_period) is not None:
                continue  # someone removed our server in between
            if self.resolver is not None:  # answered before the route's first request
                self._answer(project, upstream)
            if self._write_if_unchanged(
                    route_insert(config, project, host, upstream, self.resolver), etag):
                return True
        raise RouterError(f"Caddy's config kept changing while adding the route of {project}")

    def remove_route(self, project: str) -> None:
        path = f"/id/{route_id(project)}"
        if self._get(path) is not None:
            response = self._api.send("DELETE", path)
            # 404: the DELETE was asked again after a dropped connection, and had worked.
            if response.status_code != HTTPStatus.NOT_FOUND:
                self._api.checked(response, "DELETE", path)
        if self.store is not None and self.resolver is not None:
            self.store.upstreams.remove(project)


def _json(body: bytes) -> Any:
    return json.loads(body) if body.strip() else None


def _address(upstream: str) -> str:
    """The address of HOST:PORT (the addresses, as the resolver's table keeps them, of
    several)."""
    parsed = parse_upstreams(upstream)
    if not parsed:
        raise RouterError(f"{upstream!r} is not HOST:PORT")
    return join_addresses(each.host for each in parsed)

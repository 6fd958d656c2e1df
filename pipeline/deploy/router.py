"""Caddy, driven through its admin API: one server Pushdock owns, one route per project.

Only paths Pushdock owns are written (its server, and routes tagged with its @id), so
config that other tools put into the same Caddy is never overwritten.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from pipeline.deploy.plan import route_config, route_id, server_config
from pipeline.errors import RouterError

SERVER = "pushdock"
SERVER_PATH = f"/config/apps/http/servers/{SERVER}"
_MISSING = object()


class CaddyRouter:
    def __init__(self, admin_url: str, listen: str, timeout: float = 10.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.listen = listen
        self.timeout = timeout

    # -- admin API plumbing -----------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = _MISSING) -> Any:
        data = None if body is _MISSING else json.dumps(body).encode()
        request = urllib.request.Request(self.admin_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise RouterError(f"Caddy refused {method} {path}: {exc.code} {detail}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise RouterError(f"Caddy's admin API at {self.admin_url} is unreachable: {exc}"
                              ) from None
        return json.loads(payload) if payload.strip() else None

    def _get(self, path: str) -> Any:
        try:
            return self._call("GET", path)
        except RouterError as exc:
            if "unknown object ID" in str(exc) or "invalid traversal" in str(exc):
                return None
            raise

    def reachable(self) -> bool:
        try:
            self._call("GET", "/config/")
        except RouterError:
            return False
        return True

    # -- the server Pushdock owns -----------------------------------------------------------
    def ensure_server(self) -> None:
        existing = self._get(SERVER_PATH)
        if existing is not None:
            if existing.get("listen") != [self.listen]:
                self._call("PATCH", f"{SERVER_PATH}/listen", [self.listen])
            return
        server = server_config(self.listen)
        # Create the nearest missing parent only; siblings owned by others stay as they are.
        attempts = [
            (SERVER_PATH, server),
            ("/config/apps/http/servers", {SERVER: server}),
            ("/config/apps/http", {"servers": {SERVER: server}}),
            ("/config/apps", {"http": {"servers": {SERVER: server}}}),
        ]
        for path, body in attempts:
            parent = path.rsplit("/", 1)[0]
            if self._get(parent) is not None:
                self._call("PUT", path, body)
                return
        # A Caddy with no config at all.
        self._call("POST", "/config/", {"apps": attempts[-1][1]})

    # -- routes -----------------------------------------------------------------------------
    def upstream(self, project: str) -> str | None:
        route = self._get(f"/id/{route_id(project)}")
        if not route:
            return None
        try:
            return route["handle"][0]["upstreams"][0]["dial"]
        except (KeyError, IndexError, TypeError):
            return None

    def set_route(self, project: str, host: str, upstream: str) -> None:
        """Point the project's route at `upstream`: one PATCH when the route exists."""
        self.ensure_server()
        path = f"/id/{route_id(project)}"
        route = self._get(path)
        if route is None:
            new_route = route_config(project, host, upstream)
            routes = self._get(f"{SERVER_PATH}/routes")
            if routes:
                # Index 0: before any catch-all an operator may have put last.
                self._call("PUT", f"{SERVER_PATH}/routes/0", new_route)
            elif routes is None:
                self._call("POST", f"{SERVER_PATH}/routes", [new_route])
            else:
                self._call("POST", f"{SERVER_PATH}/routes", new_route)
            return
        if route.get("match") != [{"host": [host]}]:
            self._call("PATCH", f"{path}/match", [{"host": [host]}])
        self._call("PATCH", f"{path}/handle/0/upstreams", [{"dial": upstream}])

    def remove_route(self, project: str) -> None:
        if self._get(f"/id/{route_id(project)}") is not None:
            self._call("DELETE", f"/id/{route_id(project)}")

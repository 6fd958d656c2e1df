"""The container of an app and its proxy routes (pure, tested on data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.containers import ContainerSpec
from pipeline.model import Color
from pipeline.names import (
    WEB,
    app_container,
    app_hostname,
    generation_labels,
    release_container,
    release_labels,
    route_id,
    route_project,
    upstream_name,
)
from pipeline.upstream import SEPARATOR, parse_upstreams

if TYPE_CHECKING:  # only named in annotations: the supervisor loads no config
    from pipeline.config import DeploySpec, ProcessSpec, ReleaseSpec

STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL when an old color is stopped
PORT_VARIABLE = "PORT"  # where an app learns the port to listen on; read back by recovery


def app_container_spec(*, project: str, color: Color, image: str, sha: str, run_id: str,
                       spec: DeploySpec, secrets: dict[str, str], network: str,
                       replica: int = 1) -> ContainerSpec:
    """A web replica: the port, the route's health check, the web command."""
    return ContainerSpec(
        image=image, name=app_container(project, color, WEB, replica),
        labels=generation_labels(project, color, sha, run_id, WEB, replica, STOP_TIMEOUT),
        network=network, resources=spec.resources,
        environment={**spec.env, **secrets, PORT_VARIABLE: str(spec.port)},
        command=spec.command,
        hostname=app_hostname(project, color, WEB, replica), restart=True,
        stop_signal="SIGTERM",
        init=True)  # PID 1 without a SIGTERM handler would ignore the stop signal


def process_container_spec(*, project: str, color: Color, image: str, sha: str, run_id: str,
                           spec: DeploySpec, process: ProcessSpec, replica: int,
                           secrets: dict[str, str], network: str) -> ContainerSpec:
    """A replica of a process: no port, no route; restarted by the engine like the web."""
    return ContainerSpec(
        image=image, name=app_container(project, color, process.name, replica),
        labels=generation_labels(project, color, sha, run_id, process.name, replica,
                                 process.stop_timeout),
        network=network, resources=process.resources,
        environment={**spec.env, **secrets}, command=process.command,
        hostname=app_hostname(project, color, process.name, replica), restart=True,
        stop_signal="SIGTERM", init=True)


def generation_specs(*, project: str, color: Color, image: str, sha: str, run_id: str,
                     spec: DeploySpec, secrets: dict[str, str],
                     network: str) -> tuple[ContainerSpec, ...]:
    """Every container of one generation: the web replicas first, then each process's."""
    common = {"project": project, "color": color, "image": image, "sha": sha,
              "run_id": run_id, "spec": spec, "secrets": secrets, "network": network}
    web = tuple(app_container_spec(**common, replica=n) for n in range(1, spec.replicas + 1))
    return web + tuple(process_container_spec(**common, process=process, replica=n)
                       for process in spec.processes
                       for n in range(1, process.replicas + 1))


def release_container_spec(*, project: str, color: Color, image: str, sha: str, run_id: str,
                           spec: DeploySpec, release: ReleaseSpec, secrets: dict[str, str],
                           network: str) -> ContainerSpec:
    """The release command's one-off container: the new image, the deploy's environment and
    secrets, the generation's networks; never restarted."""
    return ContainerSpec(
        image=image, name=release_container(project, color),
        labels=release_labels(project, sha, run_id), network=network,
        resources=spec.resources, environment={**spec.env, **secrets},
        command=("sh", "-c", release.run), swap=False, init=True)


SERVER = "pushdock"  # the name of the one Caddy HTTP server Pushdock owns
GRACE_PERIOD = "10s"  # how long Caddy lets in-flight requests finish when its config changes
# How long Caddy keeps a resolver answer: the longest a switch takes to reach every request.
# A lookup is one loopback datagram each way, so even at this rate it costs Caddy little.
REFRESH_SECONDS = 0.02
TRY_DURATION = "5s"  # how long a request may wait for its app to be found and connected
FAIL_DURATION = "2s"  # how long a replica that refused a connection is left out
ConfigWrite = tuple[str, str, Any]  # (method, admin API path, body)


def server_config(listen: str, *, https: bool = False) -> dict[str, Any]:
    """The one Caddy HTTP server Pushdock owns."""
    server: dict[str, Any] = {"listen": [listen], "routes": []}
    if not https:
        server["automatic_https"] = {"disable": True}
    return server


def proxy_handler(project: str, upstream: str, resolver: str | None) -> dict[str, Any]:
    """The route's reverse proxy: to `upstream` itself, or, with a resolver, to whatever
    address the resolver answers for the project, on the upstream's port.

    No static upstream is kept beside the dynamic one: Caddy falls back to static upstreams
    when a lookup fails, and an old color's address may belong to another app by then.
    """
    parsed = parse_upstreams(upstream)
    # Replicas take turns; a request that cannot connect to one (it is restarting, say)
    # tries the next, and that one is left out for a while (`passive`).
    balancing = {"selection_policy": {"policy": "round_robin"},
                 "try_duration": TRY_DURATION, "try_interval": "250ms"}
    health = {"passive": {"fail_duration": FAIL_DURATION, "max_fails": 1}}
    if resolver is None:  # Caddy dials what it is given (a unix socket, say)
        return {"handler": "reverse_proxy",
                "upstreams": [{"dial": str(each)} for each in parsed] or [{"dial": upstream}],
                "load_balancing": balancing, "health_checks": health}
    if not parsed:
        raise ValueError(f"{upstream!r} is not HOST:PORT")
    return {"handler": "reverse_proxy", "dynamic_upstreams": {
        "source": "a", "name": upstream_name(project), "port": str(parsed[0].port),
        "refresh": f"{REFRESH_SECONDS * 1000:.0f}ms", "resolver": {"addresses": [resolver]}},
        # A request that finds no upstream (the resolver restarting) or cannot connect (the
        # moment between a new address and a new port) waits and tries again.
        "load_balancing": balancing, "health_checks": health}


def route_config(project: str, host: str, upstream: str,
                 resolver: str | None = None) -> dict[str, Any]:
    return {
        "@id": route_id(project),
        "match": [{"host": [host]}],
        "handle": [proxy_handler(project, upstream, resolver)],
        "terminal": True,
    }


def route_upstream(route: Any) -> str | None:
    """A static route's upstream(s); None for a route through the resolver."""
    try:
        dials = [str(each["dial"]) for each in route["handle"][0]["upstreams"]]
    except (KeyError, IndexError, TypeError):
        return None
    return SEPARATOR.join(sorted(dials)) if dials else None


def route_host(route: Any) -> str:
    """The host a route matches ("" when it names none): what a rebuilt record keeps."""
    try:
        return str(route["match"][0]["host"][0])
    except (KeyError, IndexError, TypeError):
        return ""


def route_port(route: Any) -> str | None:
    """The port of a route through the resolver; None for a static route."""
    try:
        return str(route["handle"][0]["dynamic_upstreams"]["port"])
    except (KeyError, IndexError, TypeError):
        return None


def _child(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def next_server_write(config: Any, listen: str, *, https: bool = False,
                      grace_period: str = GRACE_PERIOD) -> ConfigWrite | None:
    """The next single write that makes Caddy's config hold Pushdock's server, or None.

    Only the nearest missing parent is created, so siblings that others own stay as they
    are; a grace period is set only where none is configured.
    """
    server = server_config(listen, https=https)
    apps = _child(config, "apps")
    http = _child(apps, "http")
    servers = _child(http, "servers")
    ours = _child(servers, SERVER)
    base = "/config/apps/http"
    if not isinstance(config, dict):
        return ("POST", "/config/", {"apps": {"http": {
            "grace_period": grace_period, "servers": {SERVER: server}}}})
    if apps is None:
        return ("PUT", "/config/apps", {"http": {
            "grace_period": grace_period, "servers": {SERVER: server}}})
    if http is None:
        return ("PUT", base, {"grace_period": grace_period, "servers": {SERVER: server}})
    if "grace_period" not in http:
        return ("PUT", f"{base}/grace_period", grace_period)
    if servers is None:
        return ("PUT", f"{base}/servers", {SERVER: server})
    if ours is None:
        return ("PUT", f"{base}/servers/{SERVER}", server)
    if ours.get("listen") != [listen]:
        return ("PATCH", f"{base}/servers/{SERVER}/listen", [listen])
    if not isinstance(ours.get("routes"), list):
        return ("PUT", f"{base}/servers/{SERVER}/routes", [])
    return None


def pushdock_routes(config: Any) -> dict[str, dict[str, Any]]:
    """Pushdock's routes in a Caddy config, by project."""
    servers = _child(_child(_child(config, "apps"), "http"), "servers")
    routes = _child(_child(servers, SERVER), "routes")
    found: dict[str, dict[str, Any]] = {}
    for route in routes if isinstance(routes, list) else ():
        project = route_project(_child(route, "@id"))
        if project is not None:
            found[project] = route
    return found


def route_insert(config: Any, project: str, host: str, upstream: str,
                 resolver: str | None = None) -> ConfigWrite:
    """Where a new route goes: first, before any catch-all an operator may have put last."""
    routes = _child(_child(_child(_child(_child(config, "apps"), "http"), "servers"), SERVER),
                    "routes")
    path = f"/config/apps/http/servers/{SERVER}/routes"
    route = route_config(project, host, upstream, resolver)
    if routes:
        return ("PUT", f"{path}/0", route)  # PUT on an array index inserts there
    return ("POST", path, route)  # POST onto an (empty) array appends

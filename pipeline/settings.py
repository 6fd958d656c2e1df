"""Settings from the environment (PUSHDOCK_ prefix), with the defaults of DESIGN.md §3."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError
from pipeline.units import parse_size

if TYPE_CHECKING:
    from pipeline.ceilings import Ceilings

DEFAULT_MAX_BODY = 25 * 1024 * 1024
DEFAULT_RESOLVER_LISTEN = "127.0.0.1:5380"
_OFF = ("off", "none", "false", "0", "no")


@dataclass(frozen=True)
class Settings:
    config_dir: Path = Path("pipelines.d")
    data_dir: Path = Path("var")
    redis_url: str | None = None  # None: `pushdock up` starts an embedded redis-server
    caddy_admin: str = "http://127.0.0.1:2019"
    proxy_listen: str = ":8000"
    bind: str = "127.0.0.1:8080"
    token: str | None = None
    apps_network: str = "pushdock-apps"
    proxy_https: bool = False  # Caddy's automatic HTTPS on Pushdock's server
    public_url: str | None = None  # base of run links; default http://BIND
    private: bool = False  # reads need the token too
    max_body: int = DEFAULT_MAX_BODY  # bytes; larger webhook bodies are answered 413
    proxy_check: str | None = None  # HOST:PORT where this process reaches the proxy
    resolver_listen: str = DEFAULT_RESOLVER_LISTEN  # where `pushdock resolver` answers
    # How Caddy reaches the resolver (udp/HOST:PORT); None: switches change Caddy's config.
    resolver: str | None = "udp/" + DEFAULT_RESOLVER_LISTEN
    # The most any step, service or app container of a repository may ask for.
    max_cpus: float = float(os.cpu_count() or 1)
    max_memory: int = 4 * 1024**3  # bytes
    max_pids: int = 4096
    # All build steps on the engine together (see pipeline/build_bounds.py).
    build_memory: int = 2 * 1024**3  # bytes
    build_pids: int = 1024
    build_bounds: bool = True  # False: builds run unbounded (every repository trusted)
    cgroup_root: Path = Path("/sys/fs/cgroup")  # the engine host's cgroups, as seen here

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"PUSHDOCK_{name}", "").strip()
            return value or None

        defaults = cls()
        settings = cls(
            config_dir=Path(get("CONFIG_DIR") or defaults.config_dir),
            data_dir=Path(get("DATA_DIR") or defaults.data_dir),
            redis_url=get("REDIS_URL"),
            caddy_admin=(get("CADDY_ADMIN") or defaults.caddy_admin).rstrip("/"),
            proxy_listen=get("PROXY_LISTEN") or defaults.proxy_listen,
            bind=get("BIND") or defaults.bind,
            token=get("TOKEN"),
            apps_network=get("APPS_NETWORK") or defaults.apps_network,
            proxy_https=(get("PROXY_HTTPS") or "").lower() in ("1", "true", "yes", "on"),
            public_url=(get("PUBLIC_URL") or "").rstrip("/") or None,
            private=(get("PRIVATE") or "").lower() in ("1", "true", "yes", "on"),
            max_body=_size(get("MAX_BODY"), defaults.max_body, "PUSHDOCK_MAX_BODY"),
            proxy_check=get("PROXY_CHECK"),
            resolver_listen=get("RESOLVER_LISTEN") or defaults.resolver_listen,
            max_cpus=_number(get("MAX_CPUS"), defaults.max_cpus, "PUSHDOCK_MAX_CPUS"),
            max_memory=_size(get("MAX_MEMORY"), defaults.max_memory, "PUSHDOCK_MAX_MEMORY"),
            max_pids=int(_number(get("MAX_PIDS"), defaults.max_pids, "PUSHDOCK_MAX_PIDS",
                                 whole=True)),
            build_memory=_size(get("BUILD_MEMORY"), defaults.build_memory,
                               "PUSHDOCK_BUILD_MEMORY"),
            build_pids=int(_number(get("BUILD_PIDS"), defaults.build_pids,
                                   "PUSHDOCK_BUILD_PIDS", whole=True)),
            build_bounds=(get("BUILD_BOUNDS") or "on").lower() not in _OFF,
            cgroup_root=Path(get("CGROUP_ROOT") or defaults.cgroup_root),
        )
        settings = replace(settings, resolver=_resolver(get("RESOLVER"),
                                                        settings.resolver_listen))
        split_host_port(settings.proxy_listen, "PUSHDOCK_PROXY_LISTEN")
        if settings.proxy_check:
            split_host_port(settings.proxy_check, "PUSHDOCK_PROXY_CHECK")
        split_host_port(settings.bind, "PUSHDOCK_BIND")
        split_host_port(settings.resolver_listen, "PUSHDOCK_RESOLVER_LISTEN")
        return settings

    @property
    def ceilings(self) -> Ceilings:
        # Imported here: the config checks load only where a repo file is read.
        from pipeline.ceilings import Ceilings

        return Ceilings(cpus=self.max_cpus, memory=self.max_memory, pids=self.max_pids)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host, port = split_host_port(self.bind, "PUSHDOCK_BIND")
        return f"http://{host or '127.0.0.1'}:{port}"

    @property
    def resolver_is_local(self) -> bool:
        """Whether the resolver Caddy asks is the one listening on RESOLVER_LISTEN here."""
        return self.resolver is not None and self.resolver == _resolver(None,
                                                                         self.resolver_listen)

    @property
    def proxy_address(self) -> tuple[str, int]:
        """Where the deploy's check through the proxy goes.

        PROXY_CHECK when set (the worker runs in another container than Caddy: `caddy:80`),
        else PROXY_LISTEN on this machine (an empty host means all interfaces).
        """
        if self.proxy_check:
            host, port = split_host_port(self.proxy_check, "PUSHDOCK_PROXY_CHECK")
            return host, port
        host, port = split_host_port(self.proxy_listen, "PUSHDOCK_PROXY_LISTEN")
        return reachable_host(host), port


def resolver_host_port(resolver: str) -> tuple[str, int]:
    """HOST and PORT of a resolver address as Caddy takes it (udp/HOST:PORT)."""
    return split_host_port(resolver.removeprefix("udp/"), "PUSHDOCK_RESOLVER")


def reachable_host(host: str) -> str:
    """Where this machine reaches a listen address's host: "all interfaces" is loopback."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def split_host_port(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}={value!r} is not HOST:PORT or :PORT")
    return host.strip("[]"), int(port)


def _resolver(value: str | None, listen: str) -> str | None:
    """Caddy's address of the resolver: PUSHDOCK_RESOLVER, `off`, or the listen address."""
    if value is not None and value.lower() in _OFF:
        return None
    if value is None:
        host, port = split_host_port(listen, "PUSHDOCK_RESOLVER_LISTEN")
        host = reachable_host(host)
        return f"udp/[{host}]:{port}" if ":" in host else f"udp/{host}:{port}"
    address = value.removeprefix("udp/")
    split_host_port(address, "PUSHDOCK_RESOLVER")
    return f"udp/{address}"


def _size(value: str | None, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        size = parse_size(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a size (use 25m, 1g)") from None
    if size <= 0:
        raise ConfigError(f"{name}={value!r} must be more than 0")
    return size


def _number(value: str | None, default: float, name: str, *, whole: bool = False) -> float:
    if value is None:
        return default
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name}={value!r} is not {kind}") from None
    if not number > 0:
        raise ConfigError(f"{name}={value!r} must be more than 0")
    return number

"""Where the proxy sends a project's requests: an app container's address and port."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Upstream:
    """HOST:PORT, as Caddy dials it and as records keep it."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str | None) -> Upstream | None:
        """The upstream of HOST:PORT (an IPv6 host in brackets); None for anything else,
        such as the empty upstream of a record that never had one."""
        host, sep, port = (text or "").rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            return None
        return cls(host.removeprefix("[").removesuffix("]"), int(port))

    def at(self, host: str) -> Upstream:
        """The same port on another host (an app container whose address changed)."""
        return replace(self, host=host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# -- several replicas behind one route (DESIGN.md §9.2) -------------------------------------
# A route's target with replicas is their upstreams, comma-separated and sorted, all on one
# port: "10.0.0.2:8000,10.0.0.3:8000". One replica's is just its HOST:PORT.
SEPARATOR = ","


def parse_upstreams(text: str | None) -> tuple[Upstream, ...]:
    """Every upstream of a target; () when any part is not HOST:PORT."""
    parts = [Upstream.parse(part) for part in (text or "").split(SEPARATOR)]
    if not parts or any(part is None for part in parts):
        return ()
    return tuple(part for part in parts if part is not None)


def join_upstreams(upstreams: Iterable[Upstream]) -> str:
    return SEPARATOR.join(sorted({str(upstream) for upstream in upstreams}))


def join_addresses(addresses: Iterable[str]) -> str:
    """The resolver table's value: the addresses of a target, sorted."""
    return SEPARATOR.join(sorted(set(addresses)))


def split_addresses(value: str | None) -> tuple[str, ...]:
    return tuple(part for part in (value or "").split(SEPARATOR) if part)

"""Where the proxy sends a project's requests: an app container's address and port."""

from __future__ import annotations

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

"""The resolver's table: the address each project's live color listens on. Addresses only:
the port is in the project's Caddy route."""

from __future__ import annotations

import redis

from pipeline.records.connection import reachable
from pipeline.records.keys import UPSTREAMS


class Upstreams:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, project: str) -> str | None:
        with reachable():
            value = self.redis.hget(UPSTREAMS, project)
        return str(value) if value is not None else None

    def all(self) -> dict[str, str]:
        with reachable():
            return {str(k): str(v) for k, v in self.redis.hgetall(UPSTREAMS).items()}

    def set(self, project: str, address: str) -> None:
        with reachable():
            self.redis.hset(UPSTREAMS, project, address)

    def remove(self, project: str) -> None:
        with reachable():
            self.redis.hdel(UPSTREAMS, project)

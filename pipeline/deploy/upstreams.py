"""Where each project's live colour listens, as Pushdock's upstream resolver answers it.

The table holds IP addresses only; the port is part of the project's Caddy route. It lives
in Redis so that every worker's switch and the resolver process see one truth.
"""

from __future__ import annotations

import redis

KEY = "pushdock:upstreams"


class UpstreamTable:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client  # made with decode_responses=True, as the Store's is

    def get(self, project: str) -> str | None:
        value = self.redis.hget(KEY, project)
        return str(value) if value is not None else None

    def all(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.redis.hgetall(KEY).items()}

    def set(self, project: str, address: str) -> None:
        self.redis.hset(KEY, project, address)

    def remove(self, project: str) -> None:
        self.redis.hdel(KEY, project)

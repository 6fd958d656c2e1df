"""The resolver's table: the address each project's live color listens on. Addresses only:
the port is in the project's Caddy route. Every change is published on UPSTREAMS_CHANGED."""

from __future__ import annotations

import time

import redis

from pipeline.errors import StoreUnavailable
from pipeline.records.connection import reachable
from pipeline.records.keys import UPSTREAMS, UPSTREAMS_CHANGED


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
            self.redis.pipeline().hset(UPSTREAMS, project, address).publish(
                UPSTREAMS_CHANGED, project).execute()

    def remove(self, project: str) -> None:
        with reachable():
            self.redis.pipeline().hdel(UPSTREAMS, project).publish(
                UPSTREAMS_CHANGED, project).execute()


class UpstreamChanges:
    """The table's change messages, through redis-py (for the URLs the light client cannot
    follow; see light_redis.Subscription)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._pubsub: redis.client.PubSub | None = None

    def wait(self, timeout: float) -> bool:
        """True as soon as the table changes, False after `timeout` seconds without a change
        (or without Redis: the caller reads the table after either, as it would on a poll)."""
        deadline = time.monotonic() + timeout
        try:
            with reachable():
                if self._pubsub is None:
                    self._subscribe()
                assert self._pubsub is not None
                while (left := deadline - time.monotonic()) > 0:
                    message = self._pubsub.get_message(timeout=left)
                    if message is not None and message["type"] == "message":
                        return True
                return False
        except StoreUnavailable:
            self.close()
            time.sleep(max(deadline - time.monotonic(), 0))
            return False

    def _subscribe(self) -> None:
        """Subscribed once Redis confirms it: no change published after this is missed."""
        self._pubsub = self.redis.pubsub()
        self._pubsub.subscribe(UPSTREAMS_CHANGED)
        # A second at most: Redis confirms at once when it is up.
        while (message := self._pubsub.get_message(timeout=1.0)) is not None:
            if message["type"] == "subscribe":
                return
        raise StoreUnavailable("Redis did not confirm the subscription")

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None

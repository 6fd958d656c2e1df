"""Heartbeats: how a live run is told from one whose worker died."""

from __future__ import annotations

import redis

from pipeline.records.connection import reachable
from pipeline.records.keys import run_key

HEARTBEAT_TTL = 30  # seconds without a beat before a running run counts as lost


def alive_key(run_id: str) -> str:
    return run_key(run_id, "alive")


class Heartbeats:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def beat(self, run_id: str, ttl: int) -> None:
        with reachable():
            self.redis.set(alive_key(run_id), "1", ex=ttl)

    def alive(self, run_id: str) -> bool:
        with reachable():
            return bool(self.redis.exists(alive_key(run_id)))

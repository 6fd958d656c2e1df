"""Stop requests: a run asked to end (cancelled, superseded, timed out) by someone else."""

from __future__ import annotations

import json

import redis

from pipeline.model import RunStatus, StopRequest
from pipeline.records.connection import reachable
from pipeline.records.keys import run_key

STOP_TTL = 7 * 24 * 3600  # a stop request outlives any run it can be for


def stop_key(run_id: str) -> str:
    return run_key(run_id, "stop")


def encode(request: StopRequest) -> str:
    return json.dumps({"status": request.status.value, "reason": request.reason})


class StopRequests:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def request(self, run_id: str, request: StopRequest) -> None:
        """The first request wins: a later one does not change why the run ends."""
        with reachable():
            self.redis.set(stop_key(run_id), encode(request), nx=True, ex=STOP_TTL)

    def get(self, run_id: str) -> StopRequest | None:
        with reachable():
            raw = self.redis.get(stop_key(run_id))
        if not raw:
            return None
        data = json.loads(raw)
        return StopRequest(RunStatus(data["status"]), data["reason"])

"""The Store: Pushdock's records in one Redis, each kind behind its own attribute
(`store.runs`, `store.logs`, ...; see pipeline/records/)."""

from __future__ import annotations

import redis

from pipeline.records.backups import BackupRecords
from pipeline.records.deliveries import Deliveries
from pipeline.records.deployments import Deployments
from pipeline.records.heartbeats import Heartbeats
from pipeline.records.live import LiveApps
from pipeline.records.locks import LOCK_TTL, Locks
from pipeline.records.logs import LogEntry, RunLogs
from pipeline.records.previews import PreviewRecords
from pipeline.records.processes import ProcessViews
from pipeline.records.runs import RunRecords
from pipeline.records.schedule_marks import ScheduleMarks
from pipeline.records.stops import StopRequests
from pipeline.records.upstreams import Upstreams

__all__ = ["LOCK_TTL", "LogEntry", "Store", "connect"]


def connect(url: str, timeout: float | None = None) -> redis.Redis:
    """`timeout` bounds each command and connect, for callers that must not hang on Redis."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                socket_timeout=timeout, socket_connect_timeout=timeout)


class Store:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.runs = RunRecords(client)
        self.stops = StopRequests(client)
        self.heartbeats = Heartbeats(client)
        self.logs = RunLogs(client)
        self.deliveries = Deliveries(client)
        self.live = LiveApps(client)
        self.upstreams = Upstreams(client)
        self.deployments = Deployments(client)
        self.locks = Locks(client)
        self.schedules = ScheduleMarks(client)
        self.processes = ProcessViews(client)
        self.previews = PreviewRecords(client)
        self.backups = BackupRecords(client)

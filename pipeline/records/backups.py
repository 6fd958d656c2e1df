"""Backups of accessories: each attempt's result, newest first, and the files kept on disk
as the last backup left them (the web service shows them without reading DATA_DIR, which
only the workers have). A lock per accessory: one backup of it at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from pipeline.backups import BackupFile, BackupResult
from pipeline.records.connection import reachable
from pipeline.records.keys import key, project_key

RESULTS_KEPT = 50
LOCK_MARGIN = 60.0  # seconds a dead holder's lock outlives the backup's own timeout


def results_key(project: str, accessory: str) -> str:
    return project_key(project, "accessory", accessory, "backups")


def files_key(project: str, accessory: str) -> str:
    return project_key(project, "accessory", accessory, "backup-files")


class BackupRecords:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def add(self, result: BackupResult, files: list[BackupFile] | None = None) -> None:
        """Record an attempt and, when known, the backups on disk after it."""
        with reachable():
            pipe = self.redis.pipeline()
            pipe.lpush(results_key(result.project, result.accessory),
                       json.dumps(result.to_json()))
            pipe.ltrim(results_key(result.project, result.accessory), 0, RESULTS_KEPT - 1)
            if files is not None:
                pipe.set(files_key(result.project, result.accessory),
                         json.dumps([[f.name, f.taken, f.size, f.seq] for f in files]))
            pipe.execute()

    def results(self, project: str, accessory: str, limit: int = 10) -> list[BackupResult]:
        with reachable():
            found = self.redis.lrange(results_key(project, accessory), 0, limit - 1)
        return [BackupResult.from_json(json.loads(text)) for text in found]

    def last(self, project: str, accessory: str) -> BackupResult | None:
        found = self.results(project, accessory, limit=1)
        return found[0] if found else None

    def files(self, project: str, accessory: str) -> list[BackupFile]:
        with reachable():
            text = self.redis.get(files_key(project, accessory))
        return [BackupFile(name, float(taken), int(size), int(seq))
                for name, taken, size, seq in json.loads(text or "[]")]

    @contextmanager
    def lock(self, project: str, accessory: str, timeout: float) -> Iterator[bool]:
        """Yields whether this caller holds the accessory's backup lock (for the backup's
        `timeout`): a second backup of it does not wait, it is told another one runs."""
        lock = self.redis.lock(key("lock", "backup", project, accessory),
                               timeout=timeout + LOCK_MARGIN, blocking=False,
                               thread_local=False)
        with reachable():
            held = lock.acquire()
        try:
            yield held
        finally:
            if held:
                try:
                    lock.release()
                except (redis.exceptions.LockError, redis.exceptions.RedisError):
                    pass  # expired or Redis gone; nothing left to release

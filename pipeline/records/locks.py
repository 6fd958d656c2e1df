"""Locks: deploys of one project never overlap; engine changes the engine does not
serialise itself (networks by name) are made one at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.lock import Lock

from pipeline.records.connection import reachable
from pipeline.records.keys import key

LOCK_TTL = 30.0  # seconds a deploy lock outlives a holder that stopped extending it


class Locks:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @contextmanager
    def engine(self, name: str, timeout: float = 60.0) -> Iterator[None]:
        with reachable(), self.redis.lock(key("lock", "engine", name), timeout=timeout,
                                          blocking_timeout=timeout, thread_local=False):
            yield

    @contextmanager
    def deploy(self, project: str, timeout: float = LOCK_TTL,
               wait: float = 3600.0) -> Iterator[Lock]:
        """The lock lives `timeout` seconds and a thread extends it every third of that while
        the holder works, so a long deploy keeps it and a killed worker loses it soon."""
        lock = self.redis.lock(key("lock", "deploy", project), timeout=timeout,
                               blocking_timeout=wait, thread_local=False)
        with reachable():
            acquired = lock.acquire()
        if not acquired:
            raise TimeoutError(f"another deploy of {project} held the lock for {wait:.0f}s")
        done = threading.Event()
        keeper = threading.Thread(target=_keep_alive, args=(lock, timeout, done),
                                  name=f"lock-{project}", daemon=True)
        keeper.start()
        try:
            yield lock
        finally:
            done.set()
            keeper.join()
            try:
                lock.release()
            except (redis.exceptions.LockError, redis.exceptions.RedisError):
                pass  # expired or Redis gone; nothing left to release


def _keep_alive(lock: Lock, timeout: float, done: threading.Event) -> None:
    while not done.wait(timeout / 3):
        try:
            lock.extend(timeout, replace_ttl=True)
        except (redis.exceptions.RedisError, redis.exceptions.LockError):
            return  # lost; the holder finds out when it releases

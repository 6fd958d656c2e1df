"""The key scheme's root, shared by every record module, and Redis errors made ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from pipeline.errors import StoreUnavailable

PREFIX = "pushdock:"


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def run_key(run_id: str, *parts: str) -> str:
    """A run's hash, and the records that hang off it (`stop`, `alive`, `log`)."""
    return key("run", run_id, *parts)


def project_key(project: str, *parts: str) -> str:
    return key("project", project, *parts)


def projects_with(client: redis.Redis, suffix: str) -> list[str]:
    """Projects that have a `project:<name>:<suffix>` key."""
    with reachable():
        keys = client.keys(project_key("*", suffix))
    start, end = len(PREFIX) + len("project:"), -len(suffix) - 1
    return sorted(k[start:end] for k in keys)


@contextmanager
def reachable() -> Iterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc

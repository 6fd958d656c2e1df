"""Redis errors made ours, and reads over the key scheme that every record module shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from pipeline.errors import StoreUnavailable
from pipeline.records.keys import PREFIX, project_key


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

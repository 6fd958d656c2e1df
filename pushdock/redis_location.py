"""Where the Redis of the Pushdock on this machine is: PUSHDOCK_REDIS_URL, or the embedded
one that `pushdock up` keeps in DATA_DIR, so that every command works beside a running `up`
with the same settings and no others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.settings import Settings
from pushdock.errors import NoPushdockRunning


def url_file(data_dir: Path) -> Path:
    """Written by `pushdock up` once its embedded Redis answers."""
    return data_dir / "redis" / "url"


def embedded_url(data_dir: Path) -> str | None:
    try:
        text = url_file(data_dir).read_text().strip()
    except OSError:
        return None
    return text or None


def with_redis(settings: Settings) -> Settings:
    """The settings with a Redis URL that answers, or a plain error saying where none runs."""
    if settings.redis_url:
        _check_url(settings.redis_url)
        return settings
    # Imported here: redis-py is not needed by the commands that never call this.
    from pushdock.embedded import redis_ready

    url = embedded_url(settings.data_dir)
    if url is not None and redis_ready(url):
        return replace(settings, redis_url=url)
    where = settings.data_dir.resolve()
    raise NoPushdockRunning(
        f"no Pushdock is running with its data in {where} (start one with `pushdock up`, "
        "or set PUSHDOCK_DATA_DIR to its data directory) and PUSHDOCK_REDIS_URL is not set")


def _check_url(url: str) -> None:
    from redis.connection import parse_url

    try:
        parse_url(url)
    except ValueError as exc:
        # The URL may hold a password: the message names the variable, never its value.
        raise NoPushdockRunning(f"PUSHDOCK_REDIS_URL is not a Redis URL: {exc}") from None

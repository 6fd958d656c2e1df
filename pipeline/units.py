"""Durations ("90s", "10m", "1h", "7d") and sizes ("512m", "1g") as users write them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SIZE_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_duration(value: object) -> float:
    """Seconds from 90, "90s", "10m", "1h", "7d" or "250ms"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def parse_size(value: object) -> int:
    """Bytes from 536870912, "512m", "1g" or "256MiB"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(value)
    return int(float(match.group(1)) * _SIZE_BYTES[match.group(2).lower()])


def format_duration(seconds: float) -> str:
    """Short human form: 850ms, 42s, 3m05s, 1h02m."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def duration_text(seconds: float) -> str:
    """The form a user writes: 250ms, 90s, 10m, 1h, 7d (the largest unit that is exact)."""
    if seconds == 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds * 1000:g}ms"


def size_text(size: int) -> str:
    """The form a user writes: 512m, 1g (the largest unit that is exact)."""
    for unit in ("t", "g", "m", "k"):
        if size >= _SIZE_BYTES[unit] and size % _SIZE_BYTES[unit] == 0:
            return f"{size // _SIZE_BYTES[unit]}{unit}"
    return str(size)

from __future__ import annotations

import pytest

from pipeline.units import duration_text, format_duration, parse_duration, parse_size, size_text


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("1h", 3600), ("250ms", 0.25), (45, 45), ("1.5m", 90), ("7", 7),
    ("7d", 7 * 86400),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10 minutes", "", "m", "-1s", True, "1w", -3])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [
    ("512m", 512 * 1024**2), ("1g", 1024**3), ("256MiB", 256 * 1024**2), (1000, 1000),
    ("64k", 65536),
])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "1x", True, -5])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_duration() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(4.21) == "4.2s"
    assert format_duration(42) == "42s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.25, "250ms"), (1, "1s"), (90, "90s"), (60, "1m"), (600, "10m"), (3600, "1h"),
    (5400, "90m"), (86400, "1d"), (90000, "25h"),
])
def test_duration_text_is_read_back_as_written(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("size", "text"), [
    (1000, "1000"), (65536, "64k"), (512 * 1024**2, "512m"), (1024**3, "1g"),
    (1536 * 1024**2, "1536m"),
])
def test_size_text_is_read_back_as_written(size: int, text: str) -> None:
    assert size_text(size) == text
    assert parse_size(text) == size

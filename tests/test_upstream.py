"""Upstream addresses, on data."""

from __future__ import annotations

import pytest

from pipeline.upstream import Upstream


@pytest.mark.parametrize("text", ["172.18.0.2:8000", "localhost:1", "[::1]:65535",
                                  "caddy:80"])
def test_round_trip(text: str) -> None:
    upstream = Upstream.parse(text)
    assert upstream is not None
    assert str(upstream) == text


def test_parts() -> None:
    assert Upstream.parse("172.18.0.2:8000") == Upstream("172.18.0.2", 8000)
    assert Upstream.parse("[fd00::2]:80") == Upstream("fd00::2", 80)
    assert Upstream("172.18.0.2", 8000).at("172.18.0.9") == Upstream("172.18.0.9", 8000)


@pytest.mark.parametrize("text", [None, "", "172.18.0.2", ":8000", "host:", "host:http",
                                  "host:0", "host:65536"])
def test_not_an_upstream(text: str | None) -> None:
    assert Upstream.parse(text) is None

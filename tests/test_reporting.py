from __future__ import annotations

import redis

from pipeline.records.logs import LOG_MAX_BYTES, LOG_MAX_LINE, RunLogs, log_key
from pipeline.reporting import MASK, LineSplitter, Masker
from tests.support import Lines


def test_secrets_are_masked_including_multiline_ones() -> None:
    mask = Masker(["hunter22", "-----BEGIN KEY-----\nabcdef123\n-----END KEY-----", "ab"])
    assert mask("password=hunter22!") == f"password={MASK}!"
    assert mask("abcdef123") == MASK
    assert mask("ab stays: too short to mask safely") == "ab stays: too short to mask safely"


def test_chunks_become_lines() -> None:
    out = Lines()
    splitter = LineSplitter(out)
    for chunk in ["one\ntw", "o\r\nthree", " 10%\r three 100%\nfour"]:
        splitter.feed(chunk)
    splitter.flush()
    assert out.lines == ["one", "two", " three 100%", "four"]


def test_a_line_longer_than_the_limit_is_cut_without_being_held() -> None:
    lines = Lines()
    splitter = LineSplitter(lines)
    splitter.feed("before\n")
    for _ in range(10):  # a 10 MB line, in 1 MB chunks
        splitter.feed("y" * 1024 * 1024)
        assert len(splitter.buffer) <= LOG_MAX_LINE
    splitter.feed("\nafter\n")
    splitter.flush()
    assert lines.lines == ["before", "y" * LOG_MAX_LINE + " … [line cut: longer than 64 KiB]",
                           "after"]


def test_a_runs_log_stops_growing_at_its_limit(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    logs = RunLogs(client, max_bytes=4 * 1024 * 1024)

    def stored() -> list[str]:
        return [entry.line for entry in logs.read("7", count=1_000_000)]

    logs.append("7", "x" * 10 * 1024 * 1024)  # 10 MB: cut
    assert stored() == ["x" * LOG_MAX_LINE + " … [line cut: longer than 64 KiB]"]
    line = "z" * (64 * 1024 - 1)
    for _ in range(1600):  # 100 MB more
        logs.append("7", line)
    kept = stored()
    assert kept[-1] == "the log stops here: it reached 4 MiB (the run goes on)"
    assert sum(len(entry) for entry in kept) < 4 * 1024 * 1024 + 1024
    assert client.memory_usage(log_key("7")) < 6 * 1024 * 1024
    logs.append("7", "one more")
    assert stored() == kept
    assert (LOG_MAX_LINE, LOG_MAX_BYTES) == (64 * 1024, 64 * 1024 * 1024)

"""Run logs: one capped Redis Stream per run, read by pages, the API and the SSE stream."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from pipeline.records.connection import reachable
from pipeline.records.keys import run_key

LOG_MAX_LINES = 100_000  # per run; older lines are trimmed (approximately) from the stream
# A step's output must not grow Redis without end: a line is cut past LOG_MAX_LINE
# characters, and a run's log takes no more than LOG_MAX_BYTES (then one line saying so).
LOG_MAX_LINE = 64 * 1024
LOG_MAX_BYTES = 64 * 1024 * 1024


def cut_line(line: str, limit: int = LOG_MAX_LINE) -> str:
    if len(line) <= limit:
        return line
    return line[:limit] + f" … [line cut: longer than {limit // 1024} KiB]"


@dataclass(frozen=True)
class LogEntry:
    id: str  # the stream's entry id: where a reader resumes
    stage: str
    line: str


def log_key(run_id: str) -> str:
    return run_key(run_id, "log")


def log_bytes_key(run_id: str) -> str:
    return run_key(run_id, "log-bytes")


def _entries(raw: list[tuple[str, dict[str, str]]]) -> list[LogEntry]:
    return [LogEntry(entry_id, f.get("stage", ""), f.get("line", "")) for entry_id, f in raw]


# Counts the line's bytes and appends it unless the log is full, in one round trip: a
# step's every output line comes here. KEYS: the stream, its byte count. ARGV: the line, its
# stage, its size, the byte limit, the line limit, the line that says the log is full.
_APPEND = """
local size = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local total = redis.call('INCRBY', KEYS[2], size)
if total - size >= limit then return 0 end
local line = ARGV[1]
if total > limit then line = ARGV[6] end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'line', line, 'stage', ARGV[2])
return 1
"""


class RunLogs:
    def __init__(self, client: redis.Redis, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.redis = client
        self.max_bytes = max_bytes
        self._append = client.register_script(_APPEND)

    def append(self, run_id: str, line: str, *, stage: str = "") -> None:
        line = cut_line(line)
        full = (f"the log stops here: it reached {self.max_bytes // (1024 * 1024)} MiB "
                "(the run goes on)")
        with reachable():
            self._append(keys=[log_key(run_id), log_bytes_key(run_id)],
                         args=[line, stage, len(line.encode("utf-8", errors="replace")),
                               self.max_bytes, LOG_MAX_LINES, full])

    def read(self, run_id: str, after: str = "0", count: int = 10_000) -> list[LogEntry]:
        """Entries after the given entry id, oldest first."""
        start = "-" if after == "0" else f"({after}"
        with reachable():
            return _entries(self.redis.xrange(log_key(run_id), min=start, count=count))

    def length(self, run_id: str) -> int:
        with reachable():
            return int(self.redis.xlen(log_key(run_id)))

    def tail(self, run_id: str, count: int) -> tuple[list[LogEntry], int]:
        """The last `count` entries, oldest first, and how many entries the log holds."""
        with reachable():
            pipe = self.redis.pipeline()
            pipe.xrevrange(log_key(run_id), count=count)
            pipe.xlen(log_key(run_id))
            entries, total = pipe.execute()
        return _entries(list(reversed(entries))), int(total)

    def wait(self, run_id: str, after: str, block_ms: int) -> list[LogEntry]:
        """Entries after `after` (an entry id, or "0"), waiting up to block_ms for new ones."""
        with reachable():
            answer = self.redis.xread({log_key(run_id): after or "0"}, count=1000,
                                      block=block_ms)
        return _entries(answer[0][1]) if answer else []

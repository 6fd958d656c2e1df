"""What the status page shows of the live generation: each container's state and each
process's last lines of output, as the workers publish it (the web service has no engine).

Pure: the engine is read in pipeline/deploy/members.py, the view is stored in
pipeline/records/processes.py. The output is the app's, so untrusted: its lines are cut and
a process's tail holds no more than a fixed number of bytes, whatever the app prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.records.logs import cut_line

TAIL_LINES = 50  # the last lines of each process on the page
LINE_MAX = 2 * 1024  # characters of one line; the rest is cut
PROCESS_BYTES = 16 * 1024  # the most one process's tail holds
VIEW_BYTES = 128 * 1024  # the most all of a project's tails hold together


@dataclass(frozen=True)
class Member:
    """One container of the live generation."""

    process: str  # `web` or a process's name
    replica: int
    name: str
    state: str  # the engine's: running, restarting, exited…
    restarts: int
    sha: str = ""
    health: str = ""  # the image's own HEALTHCHECK as the engine reports it; "" without one

    @property
    def label(self) -> str:
        """How logs prefix its lines: web.1, worker.2."""
        return f"{self.process}.{self.replica}"


@dataclass(frozen=True)
class TailLine:
    replica: str  # the member's label: web.2
    text: str  # as the app printed it (ANSI codes kept), cut to LINE_MAX


@dataclass(frozen=True)
class ProcessTail:
    process: str
    lines: tuple[TailLine, ...]  # oldest first, the replicas' lines merged by time


@dataclass(frozen=True)
class ProcessView:
    """One look at a project's live generation; `at` says when it was taken."""

    project: str
    sha: str
    run: str
    color: str
    at: float
    members: tuple[Member, ...]
    tails: tuple[ProcessTail, ...]


def split_stamp(raw: str) -> tuple[str, str]:
    """A line of the engine's log with timestamps → (timestamp, text). The engine writes
    fixed-width RFC 3339 stamps, so they sort as text."""
    stamp, space, text = raw.partition(" ")
    if not space or not stamp[:4].isdigit():
        return "", raw
    return stamp, text


def process_tails(outputs: Mapping[str, Sequence[str]], members: Sequence[Member], *,
                  lines: int = TAIL_LINES, line_max: int = LINE_MAX,
                  process_bytes: int = PROCESS_BYTES,
                  view_bytes: int = VIEW_BYTES) -> tuple[ProcessTail, ...]:
    """`outputs`: each member's (by label) last lines, timestamped by the engine. Per
    process, in the members' order: its replicas' lines merged by time, the last `lines`
    of them, each cut to `line_max`, and as many of the newest as fit in the process's
    share of the bytes."""
    processes = list(dict.fromkeys(member.process for member in members))
    budget = min(process_bytes, view_bytes // max(1, len(processes)))
    tails = []
    for process in processes:
        stamped = [(stamp, order, member.label, text)
                   for order, member in enumerate(members) if member.process == process
                   for stamp, text in map(split_stamp, outputs.get(member.label, ()))]
        stamped.sort(key=lambda item: (item[0], item[1]))
        newest = [TailLine(label, cut_line(text.rstrip("\r"), line_max))
                  for _, _, label, text in stamped[-lines:]] if lines > 0 else []
        tails.append(ProcessTail(process, tuple(within(newest, budget))))
    return tuple(tails)


def within(lines: Sequence[TailLine], budget: int) -> list[TailLine]:
    """The newest lines whose text fits in `budget` bytes (UTF-8), oldest first."""
    kept: list[TailLine] = []
    for line in reversed(lines):
        budget -= len(line.text.encode("utf-8", errors="replace")) + 1
        if budget < 0:
            break
        kept.append(line)
    kept.reverse()
    return kept

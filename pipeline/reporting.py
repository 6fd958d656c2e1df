"""Where a run's progress goes: stage changes and log lines, with secrets masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pipeline.model import StageName, StageStatus
from pipeline.records.logs import LOG_MAX_LINE, cut_line
from pipeline.store import Store

MASK = "********"


class Reporter(Protocol):
    def stage(self, name: StageName, status: StageStatus) -> None: ...

    def log(self, line: str) -> None: ...


class Masker:
    """Replaces every secret value (and each line of a multi-line one) with MASK."""

    def __init__(self, secrets: Iterable[str]) -> None:
        pieces: set[str] = set()
        for secret in secrets:
            for piece in [secret, *secret.splitlines()]:
                if len(piece.strip()) >= 3:  # masking "a" would garble every line
                    pieces.add(piece)
        self._pieces = sorted(pieces, key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for piece in self._pieces:
            if piece in line:
                line = line.replace(piece, MASK)
        return line


class Silent:
    """A reporter for what only looks (the state of things for `pushdock status`)."""

    def stage(self, name: StageName, status: StageStatus) -> None:
        pass

    def log(self, line: str) -> None:
        pass


class StoreReporter:
    """Reports into the run's Redis record and log stream."""

    def __init__(self, store: Store, run_id: str, masker: Masker | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.mask = masker or Masker(())
        self.current = ""

    def stage(self, name: StageName, status: StageStatus) -> None:
        self.store.runs.set_stage(self.run_id, name, status)
        if status is StageStatus.RUNNING:
            self.current = name.value

    def log(self, line: str) -> None:
        self.store.logs.append(self.run_id, self.mask(line.rstrip("\n")), stage=self.current)


class LineSplitter:
    """Turns a stream of text chunks into whole lines (the last partial line kept until flush);
    a line longer than `max_line` is cut, and the rest of it never held in memory."""

    def __init__(self, emit: Reporter, max_line: int = LOG_MAX_LINE) -> None:
        self.emit = emit
        self.buffer = ""
        self.max_line = max_line
        self.cutting = False  # the start of the line being read was cut and passed on

    def feed(self, chunk: str) -> None:
        self.buffer += chunk.replace("\r\n", "\n")
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if self.cutting:  # the end of a line already cut
                self.cutting = False
                continue
            self.emit.log(line.rsplit("\r", 1)[-1])  # keep a progress bar's final state only
        if len(self.buffer) > self.max_line:
            if not self.cutting:
                self.emit.log(cut_line(self.buffer, self.max_line))
            self.cutting = True
            self.buffer = ""

    def flush(self) -> None:
        if self.buffer and not self.cutting:
            self.emit.log(self.buffer)
        self.buffer = ""
        self.cutting = False

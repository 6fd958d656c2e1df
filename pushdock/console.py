"""Progress in the terminal: stages with elapsed time, and the live log of a local run."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from pipeline.model import StageName, StageStatus
from pipeline.reporting import Masker
from pipeline.units import format_duration

_MARKS = {StageStatus.SUCCESS: "ok", StageStatus.FAILED: "FAILED", StageStatus.SKIPPED: "skipped"}


class ConsoleReporter:
    def __init__(self, masker: Masker | None = None, out: TextIO | None = None) -> None:
        self.mask = masker or Masker(())
        self.out = out or sys.stdout
        self.started = time.monotonic()
        self.stage_started = self.started
        self.current = ""

    def _elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started)

    def stage(self, name: StageName, status: StageStatus) -> None:
        if status is StageStatus.RUNNING:
            self.current = name.value
            self.stage_started = time.monotonic()
            print(f"── {name.value} ({self._elapsed()})", file=self.out, flush=True)
        elif status in _MARKS:
            took = format_duration(time.monotonic() - self.stage_started)
            detail = "" if status is StageStatus.SKIPPED else f" in {took}"
            print(f"── {name.value}: {_MARKS[status]}{detail}", file=self.out, flush=True)

    def log(self, line: str) -> None:
        print(f"   {self.mask(line.rstrip())}", file=self.out, flush=True)

"""Backups of accessories (pure): their file names, which ones are kept, when the next one is
due, and the record of each attempt. Taking and restoring them is pipeline/backup_run.py;
scheduling them is workers/backups.py."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pipeline.accessories import declared_accessory
from pipeline.config import AccessorySpec, BackupSpec, Project
from pipeline.errors import ConfigError

# UTC, to the second, with nothing that sorts differently as text and as time: the newest
# file is the last one of `ls`.
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?\.([A-Za-z0-9]+)$")
TEMP_PREFIX = ".partial-"  # a backup being written: never listed, never restored from


class BackupStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class BackupTrigger(StrEnum):
    MANUAL = "manual"  # `pushdock backup`
    SCHEDULE = "schedule"  # `every:`


@dataclass(frozen=True)
class BackupFile:
    """One finished backup on disk."""

    name: str
    taken: float  # epoch seconds, from its name
    size: int
    seq: int = 0  # a second backup within the same second

    @property
    def order(self) -> tuple[float, int]:
        return (self.taken, self.seq)


@dataclass(frozen=True)
class BackupResult:
    """One attempt: what it wrote, or why it wrote nothing."""

    project: str
    accessory: str
    status: BackupStatus
    trigger: BackupTrigger
    started: float
    finished: float
    file: str = ""  # the name under the accessory's backups directory
    size: int = 0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is BackupStatus.OK

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value, "trigger": self.trigger.value}

    @staticmethod
    def from_json(data: dict[str, Any]) -> BackupResult:
        known = set(BackupResult.__dataclass_fields__)
        values = {name: value for name, value in data.items() if name in known}
        return BackupResult(**{**values, "status": BackupStatus(data["status"]),
                               "trigger": BackupTrigger(data["trigger"])})


def backup_name(taken: float, ext: str, seq: int = 0) -> str:
    """`20261202T013005Z.sql`: the file a backup started at `taken` is written to."""
    stamp = datetime.fromtimestamp(taken, UTC).strftime(_STAMP)
    return f"{stamp}{f'-{seq}' if seq else ''}.{ext}"


def parse_backup_name(name: str) -> tuple[float, int] | None:
    """The time and sequence number of one of backup_name's names; None for anything else
    (a partial file, a file someone put there)."""
    match = _NAME.match(name)
    if not match:
        return None
    taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC).timestamp()
    return taken, int(match.group(2) or 0)


def backups_of(entries: Iterable[tuple[str, int]]) -> list[BackupFile]:
    """The backups among a directory's (name, size) entries, newest first."""
    found = []
    for name, size in entries:
        parsed = parse_backup_name(name)
        if parsed is not None:
            found.append(BackupFile(name, parsed[0], size, parsed[1]))
    return sorted(found, key=lambda f: f.order, reverse=True)


def to_prune(files: Iterable[BackupFile], keep: int | None) -> list[BackupFile]:
    """The backups beyond the `keep` newest; none when there is no `keep`."""
    newest = sorted(files, key=lambda f: f.order, reverse=True)
    return [] if keep is None else newest[keep:]


def next_backup(every: float, last_attempt: float | None, now: float) -> float:
    """When the next scheduled backup is due: `every` after the last attempt (so a restart
    resumes where it was, and an overdue one runs now), or `every` from now when there was
    none."""
    if last_attempt is None:
        return now + every
    return max(last_attempt + every, now)


def following_slot(slot: float, every: float, now: float) -> float:
    """The slot after `slot`, firing `now`: in its rhythm, or, for one that fired late
    (Pushdock was down), `every` from now, so the missed ones do not all run at once."""
    return slot + every if slot + every > now else now + every


def size_text(size: int) -> str:
    """1.4 MB, 812 kB, 95 B."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def backed_up(project: Project, name: str) -> tuple[AccessorySpec, BackupSpec]:
    """The accessory `name` of `project` and its `backup:`; ConfigError saying which is
    missing otherwise."""
    accessory = declared_accessory(project, name)
    if accessory.backup is None:
        raise ConfigError(f"{project.name}: accessory {name} has no `backup:` in {project.path}")
    return accessory, accessory.backup


def restorable(project: Project, name: str) -> tuple[AccessorySpec, BackupSpec]:
    """As backed_up, and ConfigError when the backup has no `restore` command."""
    accessory, backup = backed_up(project, name)
    if not backup.restore:
        raise ConfigError(f"{project.name}: accessory {name} has no `backup.restore` "
                          f"command in {project.path}")
    return accessory, backup


def scheduled_backups(project: Project) -> list[tuple[AccessorySpec, float]]:
    """The project's accessories backed up on a schedule, with their `every`."""
    return [(a, a.backup.every) for a in project.accessories
            if a.backup is not None and a.backup.every]

"""Schedules (`schedules:` in the project file): each one's stable id and the times it fires.
Cron expressions are read by croniter, always in UTC."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from croniter import croniter

from pipeline.config import Project, Schedule


def schedule_id(schedule: Schedule) -> str:
    """The same for the same schedule in every process, whatever its place in the file; a
    changed schedule is a new one."""
    text = f"{schedule.cron}|{schedule.branch}|{int(schedule.deploy)}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def next_slot(cron: str, after: float) -> int:
    """The first time (epoch seconds, UTC) after `after` that `cron` names."""
    start = datetime.fromtimestamp(after, UTC)
    return int(croniter(cron, start).get_next(float))


def find(project: Project, ident: str) -> Schedule | None:
    return next((s for s in project.schedules if schedule_id(s) == ident), None)


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")

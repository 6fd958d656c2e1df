"""The live generation's processes on the project page and in the API: what a worker last
published (pipeline/records/processes.py), and how long ago, since the web service cannot
ask the engine itself."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.deploy.process_view import Member, ProcessTail, ProcessView
from webhooks.ansi import ansi_to_html, strip_ansi
from webhooks.services import services

STALE_AFTER = 10.0  # seconds without a new view before the page says no worker is looking


@dataclass(frozen=True)
class ProcessBlock:
    """One process on the page: its replicas and its last lines."""

    name: str
    members: tuple[Member, ...]
    tail: ProcessTail


@dataclass(frozen=True)
class Seen:
    view: ProcessView
    age: float  # seconds since a worker took it

    @property
    def stale(self) -> bool:
        return self.age > STALE_AFTER

    @property
    def blocks(self) -> list[ProcessBlock]:
        return [ProcessBlock(tail.process, tuple(m for m in self.view.members
                                                 if m.process == tail.process), tail)
                for tail in self.view.tails]


def seen(project: str, now: float | None = None) -> Seen | None:
    """The view of the project's live generation, None when nothing is live or no worker
    has published one."""
    store = services().store
    if store.live.get(project) is None:
        return None
    view = store.processes.get(project)
    if view is None:
        return None
    return Seen(view, max(0.0, (time.time() if now is None else now) - view.at))


def seen_json(found: Seen | None) -> dict[str, Any]:
    if found is None:
        return {"seen": None, "age": None, "stale": None, "processes": []}
    view = found.view
    return {
        "seen": view.at, "age": round(found.age, 1), "stale": found.stale, "sha": view.sha,
        "run": view.run, "color": view.color,
        "processes": [{"name": block.name,
                       "members": [{**asdict(m), "label": m.label} for m in block.members],
                       "lines": [{"replica": line.replica, "text": strip_ansi(line.text),
                                  "html": str(ansi_to_html(line.text))}
                                 for line in block.tail.lines]}
                      for block in found.blocks]}


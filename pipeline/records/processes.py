"""The live generation's processes as a worker last saw them (states and last lines), one
JSON view per project, for the web service, which has no engine to ask."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import redis

from pipeline.deploy.process_view import Member, ProcessTail, ProcessView, TailLine
from pipeline.records.connection import reachable
from pipeline.records.keys import key, project_key

VIEW_TTL = 3600  # seconds a view outlives the last worker that published it


def view_key(project: str) -> str:
    return project_key(project, "processes")


def turn_key(project: str) -> str:
    return key("lock", "processes", project)


def view_to_json(view: ProcessView) -> str:
    return json.dumps(asdict(view))


def view_from_json(text: str) -> ProcessView:
    data: dict[str, Any] = json.loads(text)
    return ProcessView(
        project=data["project"], sha=data["sha"], run=data["run"], color=data["color"],
        at=float(data["at"]),
        members=tuple(Member(**member) for member in data["members"]),
        tails=tuple(ProcessTail(tail["process"], tuple(TailLine(**line)
                                                       for line in tail["lines"]))
                    for tail in data["tails"]))


class ProcessViews:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def take_turn(self, project: str, seconds: float, holder: str) -> bool:
        """Whether `holder` publishes the project's view now. The turn stays with the one
        that has it while it asks again within `seconds`; the others skip, and one of them
        takes over once the holder stops asking (its worker stopped or died)."""
        turn, ms = turn_key(project), max(1, int(seconds * 1000))
        with reachable():
            if self.redis.set(turn, holder, nx=True, px=ms):
                return True
            if self.redis.get(turn) == holder:
                self.redis.pexpire(turn, ms)
                return True
        return False

    def publish(self, view: ProcessView) -> None:
        with reachable():
            self.redis.set(view_key(view.project), view_to_json(view), ex=VIEW_TTL)

    def get(self, project: str) -> ProcessView | None:
        with reachable():
            text = self.redis.get(view_key(project))
        return view_from_json(text) if text else None

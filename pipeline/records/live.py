"""What is live: per project, the color, sha and container serving it."""

from __future__ import annotations

from dataclasses import asdict

import redis

from pipeline.model import Color, LiveApp
from pipeline.records.connection import projects_with, reachable
from pipeline.records.keys import project_key


def live_key(project: str) -> str:
    return project_key(project, "live")


def encode(app: LiveApp) -> dict[str, str]:
    return {**asdict(app), "color": app.color.value}


def decode(project: str, data: dict[str, str]) -> LiveApp:
    return LiveApp(project=project, color=Color(data["color"]), sha=data["sha"],
                   run=data["run"], container=data["container"], upstream=data["upstream"],
                   host=data.get("host", ""))


class LiveApps:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, project: str) -> LiveApp | None:
        with reachable():
            data = self.redis.hgetall(live_key(project))
        return decode(project, data) if data else None

    def many(self, projects: list[str]) -> dict[str, LiveApp]:
        with reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.hgetall(live_key(project))
            rows = pipe.execute()
        return {project: decode(project, row)
                for project, row in zip(projects, rows, strict=True) if row}

    def set(self, app: LiveApp) -> None:
        with reachable():
            self.redis.hset(live_key(app.project), mapping=encode(app))

    def clear(self, project: str) -> None:
        with reachable():
            self.redis.delete(live_key(project))

    def projects(self) -> list[str]:
        return projects_with(self.redis, "live")

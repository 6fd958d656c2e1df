"""The live previews of each project: one hash per project, a JSON record per pull request."""

from __future__ import annotations

import json
from dataclasses import asdict

import redis

from pipeline.previews import Preview
from pipeline.records.connection import projects_with, reachable
from pipeline.records.keys import project_key

_SUFFIX = "previews"


def previews_key(project: str) -> str:
    return project_key(project, _SUFFIX)


def _decode(text: str) -> Preview:
    data = json.loads(text)
    return Preview(project=data["project"], number=int(data["number"]), host=data["host"],
                   sha=data["sha"], run=data["run"], created=float(data["created"]),
                   pushed=float(data["pushed"]))


class PreviewRecords:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def put(self, preview: Preview) -> None:
        with reachable():
            self.redis.hset(previews_key(preview.project), str(preview.number),
                            json.dumps(asdict(preview)))

    def get(self, project: str, number: int) -> Preview | None:
        with reachable():
            text = self.redis.hget(previews_key(project), str(number))
        return _decode(text) if text else None

    def of(self, project: str) -> list[Preview]:
        """Oldest first."""
        with reachable():
            rows = self.redis.hvals(previews_key(project))
        return sorted((_decode(row) for row in rows), key=lambda p: (p.created, p.number))

    def remove(self, project: str, number: int) -> None:
        with reachable():
            self.redis.hdel(previews_key(project), str(number))

    def projects(self) -> list[str]:
        return projects_with(self.redis, _SUFFIX)

"""Deployments: the one in progress per project (so one cut short by a dead worker is found
later) and the history, newest first, as JSON (old records stay readable)."""

from __future__ import annotations

import json
from dataclasses import asdict

import redis

from pipeline.deploy.history import spec_from_dict, spec_to_dict
from pipeline.model import Color, Deployment, DeployResult
from pipeline.records.connection import projects_with, reachable
from pipeline.records.keys import project_key

DEPLOYMENTS_KEPT = 100


def history_key(project: str) -> str:
    return project_key(project, "deployments")


def in_progress_key(project: str) -> str:
    return project_key(project, "deploying")


def deployment_to_json(deployment: Deployment) -> str:
    data = asdict(deployment)
    data["color"] = deployment.color.value
    data["spec"] = spec_to_dict(deployment.spec) if deployment.spec else None
    data["health"] = list(deployment.health)
    return json.dumps(data)


def deployment_from_json(text: str) -> Deployment:
    data = json.loads(text)
    spec = data.get("spec")
    return Deployment(
        project=data["project"], sha=data["sha"], run=data["run"],
        color=Color(data["color"]), image=data["image"], trigger=data.get("trigger", ""),
        started=float(data["started"]),
        finished=None if data.get("finished") is None else float(data["finished"]),
        result=DeployResult(data["result"]), reason=data.get("reason", ""),
        upstream=data.get("upstream", ""),
        switched=None if data.get("switched") is None else float(data["switched"]),
        host=data.get("host", ""),
        spec=spec_from_dict(spec) if spec else None,
        health=tuple(data.get("health", ())),
    )


class Deployments:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def begin(self, deployment: Deployment) -> None:
        with reachable():
            self.redis.set(in_progress_key(deployment.project), deployment_to_json(deployment))

    def in_progress(self, project: str) -> Deployment | None:
        with reachable():
            text = self.redis.get(in_progress_key(project))
        return deployment_from_json(text) if text else None

    def in_progress_projects(self) -> list[str]:
        return projects_with(self.redis, "deploying")

    def record(self, deployment: Deployment) -> None:
        """Add a finished deployment to the history and end the in-progress mark."""
        with reachable():
            pipe = self.redis.pipeline()
            pipe.lpush(history_key(deployment.project), deployment_to_json(deployment))
            pipe.ltrim(history_key(deployment.project), 0, DEPLOYMENTS_KEPT - 1)
            pipe.delete(in_progress_key(deployment.project))
            pipe.execute()

    def history(self, project: str, limit: int = 20) -> list[Deployment]:
        """Newest first."""
        with reachable():
            rows = self.redis.lrange(history_key(project), 0, limit - 1)
        return [deployment_from_json(row) for row in rows]

    def latest_of(self, projects: list[str]) -> dict[str, Deployment]:
        with reachable():
            pipe = self.redis.pipeline()
            for project in projects:
                pipe.lindex(history_key(project), 0)
            rows = pipe.execute()
        return {project: deployment_from_json(row)
                for project, row in zip(projects, rows, strict=True) if row}

    def projects(self) -> list[str]:
        return projects_with(self.redis, "deployments")

    def forget(self, project: str) -> None:
        """The history and any mark of an app that is gone for good (a removed preview)."""
        with reachable():
            self.redis.delete(history_key(project), in_progress_key(project))

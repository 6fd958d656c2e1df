"""The per-app collaborators of the web service (settings, store, queue), made once."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from rq import Queue

from pipeline.projects import ProjectFiles
from pipeline.settings import Settings
from pipeline.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    queue: Queue
    projects: ProjectFiles


def services() -> Services:
    return current_app.extensions["pushdock"]

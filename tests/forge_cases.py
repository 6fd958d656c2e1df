"""The recorded webhooks as test cases: each tests/fixtures/<forge>/<name>.json has beside it
<name>.expected.yml, saying what Pushdock makes of it:

    events:        what the forge's parse gives: `- push: {PushEvent fields}` (a pull
                   request's with `pr: {PullRequest fields}`), `- closed: {PullRequestClosed
                   fields}` or `- ignored: reason` (project and forge are the test's)
    repositories:  the names of the repository the payload gives, for POST /hooks
    answer:        {status, json} of POST /hooks/<forge>, to a project named after the forge
                   that builds main and feature/* and no tags and takes pull requests (forks
                   wait for approval), on an empty Redis
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import yaml

from pipeline.model import Forge, PullRequest, PullRequestClosed, PushEvent
from tests.support import FIXTURES
from webhooks.forges import Ignored

KEYS = {"events", "repositories", "answer"}


@dataclass(frozen=True)
class Answer:
    status: int
    json: dict[str, Any]


@dataclass(frozen=True)
class ForgeCase:
    forge: str
    name: str
    parsed: tuple[PushEvent | PullRequestClosed | Ignored, ...]
    repositories: frozenset[str]
    answer: Answer

    def __str__(self) -> str:
        return f"{self.forge}/{self.name}"

    def events(self, project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
        """The parsed events, as the forge's parse gives them for this project."""
        return [replace(event, project=project)
                if isinstance(event, PushEvent | PullRequestClosed) else event
                for event in self.parsed]

    def pushes(self, project: str) -> list[PushEvent]:
        return [event for event in self.events(project) if isinstance(event, PushEvent)]


def _event(forge: str, entry: dict[str, Any]) -> PushEvent | PullRequestClosed | Ignored:
    [(kind, value)] = entry.items()
    if kind == "ignored":
        return Ignored(value)
    assert kind in ("push", "closed"), f"an event is `push`, `closed` or `ignored`, not {kind!r}"
    if kind == "closed":
        return PullRequestClosed(project="", forge=Forge(forge),
                                 **{**value, "pr": PullRequest(**value["pr"])})
    pr = value.get("pr")
    return PushEvent(project="", forge=Forge(forge),
                     **{**value, "pr": PullRequest(**pr) if pr else None})


def load_case(forge: str, name: str) -> ForgeCase:
    data = yaml.safe_load((FIXTURES / forge / f"{name}.expected.yml").read_text())
    assert set(data) == KEYS, f"{forge}/{name}.expected.yml: keys {sorted(data)}"
    repositories = data["repositories"]
    assert len(set(repositories)) == len(repositories), f"{forge}/{name}: a name twice"
    return ForgeCase(forge, name, tuple(_event(forge, entry) for entry in data["events"]),
                     frozenset(repositories), Answer(**data["answer"]))


def recorded() -> list[tuple[str, str]]:
    """(forge, name) of every recorded webhook."""
    return [(path.parent.name, path.stem) for path in sorted(FIXTURES.glob("*/*.json"))]


def expected() -> list[tuple[str, str]]:
    """(forge, name) of every webhook whose expected results are written down."""
    return [(path.parent.name, path.name.removesuffix(".expected.yml"))
            for path in sorted(FIXTURES.glob("*/*.expected.yml"))]


def forge_cases() -> list[ForgeCase]:
    return [load_case(forge, name) for forge, name in expected()]

"""One module per forge, each with verify(headers, body, secret) and parse(headers, body, project).

parse returns a PushEvent, or an Ignored with the reason the push runs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from pipeline.model import Forge


@dataclass(frozen=True)
class Ignored:
    reason: str


# The header that names each forge's event; Gitea's fork Forgejo sends both of its own.
EVENT_HEADERS: tuple[tuple[str, Forge], ...] = (
    ("X-GitHub-Event", Forge.GITHUB),
    ("X-Gitlab-Event", Forge.GITLAB),
    ("X-Gitea-Event", Forge.GITEA),
    ("X-Forgejo-Event", Forge.GITEA),
    ("X-Event-Key", Forge.BITBUCKET),
    ("X-Pushdock-Event", Forge.GENERIC),
)


def detect_forge(headers: Mapping[str, str]) -> Forge | None:
    # Gitea also sends X-GitHub-Event for compatibility, so the more specific headers win.
    found = [forge for header, forge in EVENT_HEADERS if headers.get(header)]
    for forge in (Forge.GITEA, Forge.GITLAB, Forge.BITBUCKET, Forge.GENERIC, Forge.GITHUB):
        if forge in found:
            return forge
    return None


def forge_module(forge: Forge) -> ModuleType | None:
    """The module that speaks this forge's webhooks, if this version has one."""
    if forge is Forge.GITHUB:
        from webhooks.forges import github

        return github
    return None

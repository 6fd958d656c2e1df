"""One module per forge, each a ForgeAdapter: the same four functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.model import Forge, PullRequestClosed, PushEvent


@dataclass(frozen=True)
class Ignored:
    reason: str


@runtime_checkable
class ForgeAdapter(Protocol):
    """What the webhook endpoints ask of a forge's module."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        """Raises BadSignature unless the raw body is signed with `secret`."""

    def parse(self, headers: Mapping[str, str], body: bytes,
              project: str) -> list[PushEvent | PullRequestClosed | Ignored]:
        """One PushEvent per pushed branch or tag (only Bitbucket sends several in one
        webhook) or per pull request opened or updated (its `pr` set), a PullRequestClosed,
        or Ignored with the reason it runs nothing; raises MalformedPayload."""

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        """The forge's id of this delivery, kept across its retries."""

    def repositories(self, body: bytes) -> tuple[str, ...]:
        """The payload's names for its repository (clone URLs, "owner/name"), to route
        organisation-wide webhooks."""


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


def forge_adapter(forge: Forge) -> ForgeAdapter:
    """The module that speaks this forge's webhooks."""
    from webhooks.forges import bitbucket, generic, gitea, github, gitlab

    adapters: dict[Forge, ForgeAdapter] = {Forge.GITHUB: github, Forge.GITLAB: gitlab,
                                           Forge.GITEA: gitea, Forge.BITBUCKET: bitbucket,
                                           Forge.GENERIC: generic}
    return adapters[forge]

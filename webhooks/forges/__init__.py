"""One module per forge, each with the same functions:

- verify(headers, body, secret): raises BadSignature unless the raw body is signed;
- parse(headers, body, project): a list of PushEvent (one per pushed branch or tag; only
  Bitbucket sends several in one webhook) or Ignored with the reason it runs nothing;
  raises MalformedPayload;
- delivery_id(headers): the forge's id of this delivery, kept across its retries;
- repositories(body): the payload's names for its repository (clone URLs, "owner/name"),
  to route organisation-wide webhooks.
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


def forge_module(forge: Forge) -> ModuleType:
    """The module that speaks this forge's webhooks."""
    from webhooks.forges import bitbucket, generic, gitea, github, gitlab

    modules: dict[Forge, ModuleType] = {Forge.GITHUB: github, Forge.GITLAB: gitlab,
                                        Forge.GITEA: gitea, Forge.BITBUCKET: bitbucket,
                                        Forge.GENERIC: generic}
    return modules[forge]

"""Reading untrusted JSON payloads: every field is checked for its type before it is used."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline.model import Forge, PushEvent
from webhooks.errors import MalformedPayload
from webhooks.forges import Ignored

ZERO_SHA = "0" * 40


def load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    return payload


def text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def ref_and_after(payload: Mapping[str, Any]) -> tuple[str, str]:
    """The pushed ref and the sha it now points at, which every push payload must carry."""
    ref, after = text(payload, "ref"), text(payload, "after")
    if not ref or not after:
        raise MalformedPayload("push payload has no ref or after")
    return ref, after


def mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def items(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def texts(*values: str) -> tuple[str, ...]:
    return tuple(value for value in values if value)


def ref_event(*, project: str, ref: str, sha: str, before: str = "", message: str = "",
              author: str = "", forge: Forge, delivery_id: str = "",
              deleted: bool = False) -> PushEvent | Ignored:
    """A push of a branch or tag, or why it runs nothing.

    A tag's run keeps the full ref (refs/tags/v1) as its branch, so that it can never be
    mistaken for the deploy branch.
    """
    if ref.startswith("refs/heads/"):
        kind, branch = "branch", ref.removeprefix("refs/heads/")
    elif ref.startswith("refs/tags/"):
        kind, branch = "tag", ref
    else:
        return Ignored(f"ref {ref} is not a branch")
    if deleted or sha == ZERO_SHA:
        return Ignored(f"{kind} deletion")
    if not sha:
        raise MalformedPayload(f"push of {ref} names no commit")
    return PushEvent(project=project, branch=branch, sha=sha.lower(), before=before,
                     message=message, author=author, forge=forge, delivery_id=delivery_id,
                     ref=ref)


def not_a_push(event: str, *, push: str, ping: str) -> list[Ignored] | None:
    """The answer to an event that is not a push (the forge's ping, or any other), or None."""
    if event == ping:
        return [Ignored("ping")]
    if event != push:
        return [Ignored(f"event {event!r} is not a push")]
    return None


def number(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def repository_id(data: Mapping[str, Any], key: str) -> str:
    """A repository's id as a string (GitHub's and Gitea's are numbers, Bitbucket's a uuid);
    "" when the payload has none."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        return ""
    return str(value)

"""GitHub push webhooks: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(secret, raw body)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline.model import Forge, PushEvent
from webhooks.errors import BadSignature, MalformedPayload
from webhooks.forges import Ignored
from webhooks.forges.signing import hmac_sha256, matches

ZERO_SHA = "0" * 40


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    signature = headers.get("X-Hub-Signature-256", "")
    if not signature:
        raise BadSignature("missing X-Hub-Signature-256 header")
    scheme, _, digest = signature.partition("=")
    if scheme != "sha256" or not matches(hmac_sha256(secret, body), digest):
        raise BadSignature("X-Hub-Signature-256 does not match the project's webhook secret")


def delivery_id(headers: Mapping[str, str]) -> str:
    return headers.get("X-GitHub-Delivery", "")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def parse(headers: Mapping[str, str], body: bytes, project: str) -> PushEvent | Ignored:
    event = headers.get("X-GitHub-Event", "")
    if event == "ping":
        return Ignored("ping")
    if event != "push":
        return Ignored(f"event {event!r} is not a push")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    ref, after = _text(payload, "ref"), _text(payload, "after")
    if not ref or not after:
        raise MalformedPayload("push payload has no ref or after")
    if ref.startswith("refs/tags/"):
        return Ignored("tag")
    if not ref.startswith("refs/heads/"):
        return Ignored(f"ref {ref} is not a branch")
    if payload.get("deleted") is True or after == ZERO_SHA:
        return Ignored("branch deletion")
    head = payload.get("head_commit")
    head = head if isinstance(head, dict) else {}
    author = head.get("author")
    author = author if isinstance(author, dict) else {}
    pusher = payload.get("pusher")
    pusher = pusher if isinstance(pusher, dict) else {}
    return PushEvent(
        project=project,
        branch=ref.removeprefix("refs/heads/"),
        sha=after.lower(),
        before=_text(payload, "before"),
        message=_text(head, "message"),
        author=_text(author, "username") or _text(author, "name") or _text(pusher, "name"),
        forge=Forge.GITHUB,
        delivery_id=delivery_id(headers),
    )

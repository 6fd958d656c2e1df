"""Pushdock's own webhook, for plain git servers (see `pushdock post-receive`).

POST /hooks/<project> with headers
    X-Pushdock-Event: push            ("ping" is answered and ignored)
    X-Pushdock-Signature: sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>
    X-Pushdock-Delivery: <unique id>  (optional; a repeated id runs once)
and a JSON body
    {"ref": "refs/heads/main", "before": "<sha>", "after": "<sha>",
     "message": "commit message", "author": "name",
     "repository": "<clone URL or owner/name>"}   (repository: only for POST /hooks)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pipeline.model import Forge, PushEvent
from webhooks.forges import Ignored
from webhooks.forges.payload import load_object, not_a_push, ref_and_after, ref_event, text, texts
from webhooks.forges.signing import hmac_sha256, verify_prefixed

EVENT_HEADER = "X-Pushdock-Event"
SIGNATURE_HEADER = "X-Pushdock-Signature"
DELIVERY_HEADER = "X-Pushdock-Delivery"


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    verify_prefixed(headers, body, secret, SIGNATURE_HEADER)


def delivery_id(headers: Mapping[str, str]) -> str:
    return headers.get(DELIVERY_HEADER, "")


def repositories(body: bytes) -> tuple[str, ...]:
    return texts(text(load_object(body), "repository"))


def parse(headers: Mapping[str, str], body: bytes, project: str) -> list[PushEvent | Ignored]:
    event = headers.get(EVENT_HEADER, "")
    ignored = not_a_push(event, push="push", ping="ping")
    if ignored is not None:
        return ignored
    payload = load_object(body)
    ref, after = ref_and_after(payload)
    return [ref_event(project=project, ref=ref, sha=after, before=text(payload, "before"),
                      message=text(payload, "message"), author=text(payload, "author"),
                      forge=Forge.GENERIC, delivery_id=delivery_id(headers))]


def signed_push(secret: str, *, ref: str, before: str, after: str, message: str = "",
                author: str = "", repository: str = "", delivery: str = ""
                ) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a push, as `pushdock post-receive` sends them."""
    payload = {"ref": ref, "before": before, "after": after, "message": message,
               "author": author}
    if repository:
        payload["repository"] = repository
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", EVENT_HEADER: "push",
               SIGNATURE_HEADER: "sha256=" + hmac_sha256(secret, body)}
    if delivery:
        headers[DELIVERY_HEADER] = delivery
    return body, headers

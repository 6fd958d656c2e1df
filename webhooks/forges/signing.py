"""HMAC signatures over the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from webhooks.errors import BadSignature


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def matches(expected_hex: str, given: str) -> bool:
    return hmac.compare_digest(expected_hex.encode(), given.strip().lower().encode())


def verify_prefixed(headers: Mapping[str, str], body: bytes, secret: str, header: str) -> None:
    """Check a `sha256=<hex>` signature header (GitHub, Bitbucket, Pushdock's generic hook)."""
    signature = headers.get(header, "")
    if not signature:
        raise BadSignature(f"missing {header} header")
    scheme, _, digest = signature.partition("=")
    if scheme != "sha256" or not matches(hmac_sha256(secret, body), digest):
        raise BadSignature(f"{header} does not match the project's webhook secret")

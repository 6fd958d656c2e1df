"""HMAC signatures over the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def matches(expected_hex: str, given: str) -> bool:
    return hmac.compare_digest(expected_hex.encode(), given.strip().lower().encode())

"""What an HTTP error answer says, for one-line messages."""

from __future__ import annotations

import json
import urllib.error


def error_detail(exc: urllib.error.HTTPError, limit: int = 2000) -> str:
    """The answer's text, or its JSON `error` field when it is JSON with one (Caddy's and
    Pushdock's own error answers are)."""
    detail = exc.read(limit).decode(errors="replace").strip()
    try:
        found = json.loads(detail).get("error", detail)
    except (ValueError, AttributeError):
        return detail
    return str(found)

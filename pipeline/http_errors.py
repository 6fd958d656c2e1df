"""What an HTTP error answer, or a request that got none, says, for one-line messages.

requests is only named for types here: this module is imported where requests is not
loaded yet (the router, which the web service and the CLI import).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


def error_detail(response: requests.Response, limit: int = 2000) -> str:
    """The answer's text, or its JSON `error` field when it is JSON with one (Caddy's and
    Pushdock's own error answers are)."""
    detail = response.content[:limit].decode(errors="replace").strip()
    try:
        found = json.loads(detail).get("error", detail)
    except (ValueError, AttributeError):
        return detail
    return str(found)


def failure_reason(exc: BaseException) -> str:
    """Why a request got no answer, in its innermost cause's words ("[Errno 111] Connection
    refused", "timed out"): requests wraps it in urllib3's errors, which repeat the URL."""
    while (cause := exc.__cause__ or exc.__context__) is not None:
        exc = cause
    return str(exc) or type(exc).__name__

"""How the command line speaks: one `pushdock:` line per message, errors on stderr."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    print(f"pushdock: {message}", flush=True)


def fail(message: str) -> int:
    print(f"pushdock: error: {message}", file=sys.stderr, flush=True)
    return 1

"""What the command line and `pushdock up` report: one line each, never a traceback."""

from __future__ import annotations

from pipeline.errors import PushdockError


class NoPushdockRunning(PushdockError):
    """No Redis to read or write records in."""


class AlreadyRunning(PushdockError):
    """A `pushdock up` keeps its data in this DATA_DIR already."""


class MissingProgram(PushdockError):
    """A program the embedded default needs is not installed."""


class ChildFailed(Exception):
    """A child exited, or never became ready."""


class StopRequested(Exception):
    """SIGINT or SIGTERM reached the supervisor."""

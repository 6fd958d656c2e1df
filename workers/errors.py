"""What the worker side refuses, as one-line errors for the pages, the API and the CLI."""

from __future__ import annotations

from pipeline.errors import PushdockError


class RunNotActive(PushdockError):
    """The run has already finished (or there is no such run)."""


class NoSuchRun(PushdockError):
    """No run has this id."""


class NotDelivered(PushdockError):
    """A notification target did not take a notice (RQ tries again)."""


class NotWaiting(PushdockError):
    """The run does not wait for approval (any more): it was decided, or never waited."""


class BackupBusy(PushdockError):
    """Another backup of the same accessory is running."""

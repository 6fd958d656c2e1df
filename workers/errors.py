"""What the worker side refuses, as one-line errors for the pages, the API and the CLI."""

from __future__ import annotations

from pipeline.errors import PushdockError


class RunNotActive(PushdockError):
    """The run has already finished (or there is no such run)."""


class NoSuchRun(PushdockError):
    """No run has this id."""

"""The key scheme's root, shared by every record module. Free of any Redis client, so the
small processes that read a record with the light client (the resolver) share it too."""

from __future__ import annotations

PREFIX = "pushdock:"


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def run_key(run_id: str, *parts: str) -> str:
    """A run's hash, and the records that hang off it (`stop`, `alive`, `log`)."""
    return key("run", run_id, *parts)


def project_key(project: str, *parts: str) -> str:
    return key("project", project, *parts)


# The resolver's table: written through Upstreams, read by the resolver's light client too.
UPSTREAMS = key("upstreams")
# Published on every change of the table, so the resolver reads it at once instead of on its
# next poll.
UPSTREAMS_CHANGED = key("upstreams", "changed")

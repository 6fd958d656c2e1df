"""Where a repository lives, read from its URL: host and path, for matching and forge APIs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_SCP_URL = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/][^\s]*)$")


@dataclass(frozen=True)
class RepoLocation:
    scheme: str  # "https", "ssh", … ("" for a local path)
    host: str  # lower-case, without port or user ("" for a local path)
    port: int | None
    path: str  # "acme/shop": no leading or trailing "/", no ".git"

    @property
    def identity(self) -> str:
        """The same for the https, ssh and scp-style URLs of one repository."""
        return f"{self.host}/{self.path}".lower() if self.host else self.path.lower()

    @property
    def web_base(self) -> str:
        """https://host[:port] for https URLs; plain https://host for ssh ones."""
        if self.scheme in ("http", "https"):
            port = f":{self.port}" if self.port else ""
            return f"{self.scheme}://{self.host}{port}"
        return f"https://{self.host}"


def _clean_path(path: str) -> str:
    path = path.strip("/")
    return path.removesuffix(".git").strip("/")


def locate(url: str) -> RepoLocation | None:
    """The location of a clone URL, scp-style address or path; None when it is none of those."""
    url = url.strip()
    if not url:
        return None
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme == "file":
            return RepoLocation("file", "", None, _clean_path(parts.path))
        if not parts.hostname:
            return None
        return RepoLocation(parts.scheme.lower(), parts.hostname.lower(), port,
                            _clean_path(parts.path))
    if url.startswith("/"):
        return RepoLocation("", "", None, _clean_path(url))
    match = _SCP_URL.match(url)
    if match:
        return RepoLocation("ssh", match["host"].lower(), None, _clean_path(match["path"]))
    return None


def repo_matches(project_repo: str, names: Iterable[str]) -> bool:
    """Whether a payload's repository (clone URLs, web URLs or "owner/name") is this project's.

    Only used to route an organisation-wide webhook: the clone URL itself always comes from
    the project file, never from the payload.
    """
    project = locate(project_repo)
    if project is None or not project.path:
        return False
    for name in names:
        if not name:
            continue
        found = locate(name) if ("://" in name or name.startswith("/") or "@" in name) else None
        if found is not None:
            if found.path and found.identity == project.identity:
                return True
        elif _clean_path(name).lower() == project.path.lower():
            return True
    return False

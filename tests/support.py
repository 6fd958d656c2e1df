"""Helpers shared by the tests: the sample app, signing, waiting."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BASE_IMAGE = "pushdock-test/busybox:latest"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Missing infrastructure fails under CI and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: missing infrastructure is a failure)", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY www /www
EXPOSE 8000
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""

PIPELINE = """test:
  steps:
    - name: unit
      run: test "$(cat /www/index.html)" != broken && echo "tests pass"
deploy:
  port: 8000
  health: {path: /healthz, interval: 200ms, healthy_after: 2, deadline: 20s}
  drain: 0s
"""


class SampleRepo:
    """A git repository holding a small web app: busybox httpd serving its version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        (path / "Dockerfile").write_text(DOCKERFILE)
        (path / ".pushdock.yml").write_text(PIPELINE)
        (path / "www").mkdir()
        (path / "www" / "healthz").write_text("ok\n")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
               "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
        return subprocess.run(["git", *args], cwd=self.path, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    def commit(self, version: str, message: str | None = None, *,
               files: dict[str, str] | None = None) -> str:
        """Commit an app answering `version` at / (the word "broken" fails its test step)."""
        (self.path / "www" / "index.html").write_text(version + "\n")
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message or f"version {version}")
        return self.git("rev-parse", "HEAD")


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub would send for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push(secret: str, sha: str, *, branch: str = "main", message: str = "a change",
                delivery: str | None = None, before: str = "0" * 40
                ) -> tuple[bytes, dict[str, str]]:
    """A push webhook shaped and signed the way GitHub sends it."""
    payload = {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "head_commit": {"id": sha, "message": message,
                        "author": {"name": "Dev", "email": "dev@example.com",
                                   "username": "dev"}},
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "repository": {"full_name": "acme/shop", "clone_url": "https://evil.example/x.git"},
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or os.urandom(8).hex(),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return body, headers


def project_file(directory: Path, name: str, repo: Path, *, secret_var: str,
                 host: str | None = None, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"project: {name}", f"repo: {repo}", "forge: github",
             f"webhook_secret: ${{{secret_var}}}", "branches: [main, \"feature/*\"]"]
    if host:
        lines += ["deploy:", "  branch: main", f"  host: {host}"]
    path = directory / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class Lines:
    """A reporter that keeps the lines it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def stage(self, *_: object) -> None:
        pass

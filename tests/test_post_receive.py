"""`pushdock post-receive` against the real web service over HTTP, from a real repository."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from pipeline.settings import Settings
from pipeline.store import Store
from pushdock.post_receive import hook_url, read_updates
from tests.support import SampleRepo, free_port, project_file
from webhooks.app import create_app

SECRET = "git-server-secret"
ZERO = "0" * 40
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GIT_SECRET", SECRET)
    project_file(settings.config_dir, "shop", "/srv/git/shop.git", secret_var="GIT_SECRET",
                 forge="generic")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    httpd = make_server("127.0.0.1", port, create_app(replace(settings, public_url=url)),
                        threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield url
    httpd.shutdown()
    thread.join(timeout=10)


def hook(repo: SampleRepo, url: str, stdin: str, secret: str | None = SECRET
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHDOCK_")}
    if secret is not None:
        env["PUSHDOCK_WEBHOOK_SECRET"] = secret
    return subprocess.run([sys.executable, "-m", "pushdock", "post-receive", "shop", url],
                          input=stdin, cwd=repo.path, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60, check=False)


def test_each_pushed_branch_becomes_a_run(server: str, sample_repo: SampleRepo,
                                          store: Store) -> None:
    first = sample_repo.commit("v1", "First version")
    second = sample_repo.commit("v2", "Second version\n\nWith a body.")
    stdin = (f"{first} {second} refs/heads/main\n"
             f"{ZERO} {first} refs/heads/feature/x\n"
             f"{first} {ZERO} refs/heads/gone\n"
             f"{ZERO} {first} refs/notes/commits\n")
    result = hook(sample_repo, server, stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"pushdock: main: run 1 queued: {server}/runs/1",
        f"pushdock: feature/x: run 2 queued: {server}/runs/2",
        "pushdock: gone: ignored (branch deletion)",
    ]
    run = store.runs.get("1")
    assert run is not None
    assert (run.branch, run.sha, run.author) == ("main", second, "Dev")
    assert run.message == "Second version\n\nWith a body."


def test_failures_exit_non_zero(server: str, sample_repo: SampleRepo, store: Store) -> None:
    sha = sample_repo.commit("v1")
    line = f"{ZERO} {sha} refs/heads/main\n"
    wrong = hook(sample_repo, server, line, secret="wrong")
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr
    unset = hook(sample_repo, server, line, secret=None)
    assert unset.returncode == 1 and "PUSHDOCK_WEBHOOK_SECRET is not set" in unset.stderr
    away = hook(sample_repo, f"http://127.0.0.1:{free_port()}", line)
    assert away.returncode == 1 and "cannot reach" in away.stderr
    assert store.runs.list() == []


def test_reading_git_lines_and_urls() -> None:
    sha = "a" * 40
    assert [u.ref for u in read_updates([f"{ZERO} {sha} refs/heads/main", "garbage",
                                         f"{ZERO} {sha} refs/tags/v1",
                                         f"{ZERO} {sha} refs/remotes/x"])] == [
        "refs/heads/main", "refs/tags/v1"]
    assert hook_url("https://ci.example.com/", "shop") == "https://ci.example.com/hooks/shop"
    assert hook_url("https://ci.example.com/hooks/shop", "shop") == (
        "https://ci.example.com/hooks/shop")

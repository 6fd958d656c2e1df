"""The command line as a user meets it: exit codes and one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.model import PushEvent
from pipeline.store import Store, connect
from tests.support import free_port


def pushdock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUSHDOCK_")}
    return subprocess.run([sys.executable, "-m", "pushdock", *args],
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def test_check_a_good_and_a_broken_repo_file(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / ".pushdock.yml").write_text("test:\n  steps:\n    - run: make test\n")
    result = pushdock("check", str(good))
    assert result.returncode == 0 and "ok (1 test steps)" in result.stdout

    bad = tmp_path / "bad" / ".pushdock.yml"
    bad.parent.mkdir()
    bad.write_text("test:\n  steps:\n    - run: make\n      timeout: forever\n")
    result = pushdock("check", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == (f'{bad}:4: test.steps[0].timeout: "forever" is not a '
                                     "duration (use 90s, 10m, 1h)")
    assert "Traceback" not in result.stderr


def test_check_a_project_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.yml"
    path.write_text("project: shop\nrepo: /srv/git/shop\nwebhook_secret: ${SHOP_SECRET}\n")
    result = pushdock("check", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"{path}:3: webhook_secret: ${{SHOP_SECRET}} is not set in "
                                     "the environment")
    result = pushdock("check", str(path), env={"SHOP_SECRET": "x"})
    assert result.returncode == 0 and "project shop" in result.stdout
    missing = pushdock("check", str(tmp_path / "nope.yml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_commands_needing_redis_say_so(tmp_path: Path) -> None:
    env = {"PUSHDOCK_DATA_DIR": str(tmp_path)}
    for command in ("serve", "worker", "status", "resolver", "cancel 3", "deploy shop",
                    "rollback shop"):
        result = pushdock(*command.split(), env=env)
        assert result.returncode == 1
        assert "PUSHDOCK_REDIS_URL is not set" in result.stderr
        assert f"no Pushdock is running with its data in {tmp_path}" in result.stderr
        assert "Traceback" not in result.stderr


def test_commands_find_the_embedded_redis_of_pushdock_up(tmp_path: Path) -> None:
    from pushdock.embedded import redis_child, redis_ready
    from pushdock.redis_location import url_file
    from pushdock.supervisor import Supervisor

    supervisor = Supervisor(lambda _: None)
    child, url = redis_child(tmp_path)
    try:
        supervisor.start(child, ready=lambda: redis_ready(url))
        env = {"PUSHDOCK_DATA_DIR": str(tmp_path)}
        assert pushdock("status", env=env).returncode == 1  # `up` has not said where yet
        url_file(tmp_path).write_text(url + "\n")
        Store(connect(url)).runs.create(PushEvent(project="shop", branch="main",
                                                 sha="f" * 40, message="Found"))
        result = pushdock("status", env=env)
        assert result.returncode == 0, result.stderr
        assert "fffffff" in result.stdout and "Found" in result.stdout
    finally:
        supervisor.stop_all()
    result = pushdock("status", env=env)
    assert result.returncode == 1 and "no Pushdock is running" in result.stderr


def test_bad_setting_is_one_line() -> None:
    result = pushdock("status", env={"PUSHDOCK_PROXY_LISTEN": "nowhere"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("pushdock: error: PUSHDOCK_PROXY_LISTEN='nowhere'")


def test_status_lists_runs(store: Store, redis_url: str) -> None:
    run = store.runs.create(PushEvent(project="shop", branch="main", sha="e" * 40,
                                     message="Ship it"))
    result = pushdock("status", env={"PUSHDOCK_REDIS_URL": redis_url})
    assert result.returncode == 0
    assert f"#{run.id}" in result.stdout and "eeeeeee" in result.stdout
    assert "queued" in result.stdout and "Ship it" in result.stdout


def test_healthcheck_of_a_worker_needs_it_registered(redis_url: str) -> None:
    import socket

    from rq import Worker

    from workers.process import worker_prefix
    from workers.queue import job_connection, run_queue

    env = {"PUSHDOCK_REDIS_URL": redis_url}
    assert pushdock("healthcheck", "worker", env=env).returncode == 1
    connection = job_connection(redis_url)
    worker = Worker([run_queue(connection)], connection=connection,
                    name=f"{worker_prefix(socket.gethostname())}1")
    worker.register_birth()  # with this process's pid
    try:
        assert pushdock("healthcheck", "worker", env=env).returncode == 0
    finally:
        worker.register_death()
    assert pushdock("healthcheck", "worker", env=env).returncode == 1

    # Registered, but its process is gone (killed): not healthy.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = Worker([run_queue(connection)], connection=connection,
                   name=f"{worker_prefix(socket.gethostname())}2")
    stale.pid = int(gone.stdout)
    stale.register_birth()
    try:
        assert pushdock("healthcheck", "worker", env=env).returncode == 1
    finally:
        stale.register_death()
    # A web service that does not answer is unhealthy.
    result = pushdock("healthcheck", "web", env={"PUSHDOCK_BIND": "127.0.0.1:9"})
    assert result.returncode == 1


def test_healthcheck_of_the_resolver(resolver_server: str, redis_url: str) -> None:
    env = {"PUSHDOCK_RESOLVER_LISTEN": resolver_server}
    assert pushdock("healthcheck", "resolver", env=env).returncode == 0
    env = {"PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{free_port()}"}
    assert pushdock("healthcheck", "resolver", env=env).returncode == 1


def test_resolver_on_a_taken_address_says_so(resolver_server: str, redis_url: str) -> None:
    result = pushdock("resolver", env={"PUSHDOCK_REDIS_URL": redis_url,
                                       "PUSHDOCK_RESOLVER_LISTEN": resolver_server})
    assert result.returncode == 1
    assert f"cannot listen on {resolver_server}" in result.stderr
    assert "Traceback" not in result.stderr


def test_mistakes_in_the_accessory_backup_and_preview_commands_are_one_line(
        tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "pipelines.d"
    config.mkdir()
    (config / "shop.yml").write_text(
        "project: shop\nrepo: /srv/git/shop\nwebhook_secret: s\naccessories:\n"
        "  db:\n    image: postgres:16\n    backup: {run: pg_dumpall, restore: psql}\n"
        "  cache:\n    image: redis:7\n")
    env = {"PUSHDOCK_REDIS_URL": redis_url, "PUSHDOCK_CONFIG_DIR": str(config),
           "PUSHDOCK_DATA_DIR": str(tmp_path / "data")}
    said = {
        "previews nope": f"no project named 'nope' (no {config}/nope.yml)",
        "preview nope 1 remove": f"no project named 'nope' (no {config}/nope.yml)",
        "restore shop cache x.dump": f"shop: accessory cache has no `backup:` in {config}",
        "restore shop web x.dump": "shop has no accessory web (its accessories: db, cache)",
        "restore shop db x.dump": "no backup file x.dump (nor in ",
        "accessory shop web start": "shop has no accessory web (its accessories: db, cache)",
    }
    for command, error in said.items():
        result = pushdock(*command.split(), env=env)
        assert (result.returncode, result.stdout) == (1, ""), command
        assert result.stderr.startswith(f"pushdock: error: {error}"), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    result = pushdock("previews", "shop", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "pushdock: shop: no previews")
    result = pushdock("accessory", "shop", "db", "logs", "--tail", "-5", env=env)
    assert result.returncode == 2
    assert "argument --tail: '-5' is not a number of lines (0 or more)" in result.stderr


def test_a_redis_url_that_is_none_is_one_line_and_keeps_its_password() -> None:
    for command in ("previews shop", "approve 3", "backup shop db"):
        result = pushdock(*command.split(), env={"PUSHDOCK_REDIS_URL": "s3cret@somewhere"})
        assert result.returncode == 1
        assert result.stderr.startswith("pushdock: error: PUSHDOCK_REDIS_URL is not a Redis "
                                         "URL: "), result.stderr
        assert "s3cret" not in result.stderr and result.stderr.count("\n") == 1

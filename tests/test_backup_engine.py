"""Backups on the real engine, with the PostgreSQL stand-in (script/standins): a backup taken
with `pushdock backup`, the table dropped, `pushdock restore` brings the rows back; a failed
backup leaves the good ones as they were; backups on a schedule with a real worker, pruned
to `keep`, going on after the worker restarts, and a failed one notified to a json://
target."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.backup_run import restore_backup, take_backup
from pipeline.errors import BackupFailed
from pipeline.names import accessory_container, accessory_labels, backups_dir
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import RecordingServer, missing, start_pushdock, stop_group, wait_for

POSTGRES_IMAGE = "postgres:15"
TABLE = "CREATE TABLE items (id serial PRIMARY KEY, name text);"


def psql(container, sql: str) -> str:
    result = container.exec_run(["psql", "-U", "postgres", "-tAc", sql])
    assert result.exit_code == 0, result.output
    return result.output.decode().strip()


@pytest.fixture
def postgres(docker_client, project_name: str) -> Iterator:
    """The project's `db` accessory, running, with a table of three rows."""
    import docker.errors

    try:
        docker_client.images.get(POSTGRES_IMAGE)
    except docker.errors.ImageNotFound:
        missing(f"{POSTGRES_IMAGE} is missing (script/standins builds it)")
    container = docker_client.containers.run(
        POSTGRES_IMAGE, name=accessory_container(project_name, "db"), detach=True,
        labels=accessory_labels(project_name, "db"), environment={"POSTGRES_PASSWORD": "pw"})
    try:
        wait_for(lambda: container.exec_run(["pg_isready", "-U", "postgres"]).exit_code == 0,
                 timeout=120, what="PostgreSQL")
        # pg_isready answers during the first start's own restart too: wait for a query.
        wait_for(lambda: container.exec_run(["psql", "-U", "postgres", "-c", "SELECT 1"]
                                            ).exit_code == 0, timeout=60, what="a query")
        psql(container, TABLE + " INSERT INTO items (name) VALUES ('a'), ('b'), ('c');")
        yield container
    finally:
        container.remove(force=True, v=True)


def write_project(config_dir: Path, name: str, backup: str, *, extra: str = "") -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{name}.yml").write_text(
        f"project: {name}\nrepo: /srv/{name}.git\nwebhook_secret: s\n{extra}"
        f"accessories:\n  db:\n    image: {POSTGRES_IMAGE}\n    backup: {backup}\n"
        "    env: {POSTGRES_PASSWORD: pw}\n    volumes: {data: /var/lib/postgresql/data}\n"
        "    ready: pg_isready -U postgres && psql -U postgres -c 'SELECT 1'\n"
        f"  cache:\n    image: {POSTGRES_IMAGE}\n    backup: {{run: 'true'}}\n"
        f"  plain:\n    image: {POSTGRES_IMAGE}\n")


def pushdock(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "pushdock", *args], env=env, text=True,
                          capture_output=True, timeout=300, check=False)


GOOD = "{run: pg_dumpall -U postgres, restore: psql -U postgres, ext: sql, keep: 3}"


@pytest.fixture
def started_db(docker_client, project_name: str, settings: Settings) -> Iterator:
    """The project's `db` as `pushdock accessory` starts it: in its named volume, on the
    project's network."""
    write_project(settings.config_dir, project_name, GOOD)
    started = pushdock(settings, "accessory", project_name, "db", "start")
    try:
        assert started.returncode == 0, started.stderr
        container = docker_client.containers.get(accessory_container(project_name, "db"))
        psql(container, TABLE + " INSERT INTO items (name) VALUES ('a'), ('b'), ('c');")
        yield container
    finally:
        pushdock(settings, "accessory", project_name, "db", "remove", "--yes")


def test_a_backup_brings_dropped_rows_back(started_db, project_name: str,
                                           settings: Settings, store: Store) -> None:
    postgres = started_db
    taken = pushdock(settings, "backup", project_name, "db")
    assert taken.returncode == 0, taken.stderr
    path = Path(taken.stdout.strip().splitlines()[-1])
    assert path.parent == backups_dir(settings.data_dir, project_name, "db").resolve()
    assert path.suffix == ".sql" and b"COPY public.items" in path.read_bytes()
    last = store.backups.last(project_name, "db")
    assert (last.ok, last.file, last.size) == (True, path.name, path.stat().st_size)
    psql(postgres, "DROP TABLE items;")
    restored = pushdock(settings, "restore", project_name, "db", path.name)
    assert restored.returncode == 0, restored.stderr
    assert psql(postgres, "SELECT string_agg(name, ',' ORDER BY id) FROM items") == "a,b,c"


def test_clear_errors_without_a_traceback(postgres, project_name: str,
                                          settings: Settings, store: Store) -> None:
    write_project(settings.config_dir, project_name, GOOD)
    cases = {
        ("backup", "nope", "db"): "no project named 'nope'",
        ("backup", project_name, "web"): f"{project_name} has no accessory web (its "
                                         "accessories: db, cache, plain)",
        ("backup", project_name, "plain"): f"{project_name}: accessory plain has no `backup:`",
        ("backup", project_name, "cache"): f"the backup of cache failed: accessory cache of "
                                           f"{project_name} is not running (pushdock "
                                           f"accessory {project_name} cache start)",
        ("restore", project_name, "db", "missing.sql"): "no backup file missing.sql",
        ("restore", project_name, "cache", __file__): f"{project_name}: accessory cache has "
                                                      "no `backup.restore` command",
    }
    for args, message in cases.items():
        done = pushdock(settings, *args)
        assert done.returncode == 1, (args, done.stdout)
        assert done.stderr.startswith(f"pushdock: error: {message}"), (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not store.backups.last(project_name, "cache").ok  # a failed attempt is recorded


def test_a_failed_or_partial_backup_leaves_no_file(postgres, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    good = take_backup(postgres, "pg_dumpall -U postgres", folder, "sql", timeout=120)
    before = good.path.read_bytes()
    failures = {"false": "exited with 1",
                "pg_dumpall -U postgres; echo broken >&2; exit 1": "exited with 1: broken",
                "pg_dumpall -U nobody": "exited with 1: pg_dumpall: error",
                "echo partial; sleep 30": "did not finish within 1s"}
    for command, reason in failures.items():
        with pytest.raises(BackupFailed) as failed:
            take_backup(postgres, command, folder, "sql", timeout=1 if "sleep" in command
                        else 120, started=good.path.stat().st_mtime)
        assert str(failed.value).startswith(reason), command
    assert [p.name for p in folder.iterdir()] == [good.path.name]  # no partial file either
    assert good.path.read_bytes() == before


def test_a_restore_that_fails_or_never_reads_is_reported(postgres) -> None:
    with pytest.raises(BackupFailed, match=r"^exited with 2: nope$"):
        restore_backup(postgres, "cat >/dev/null; echo nope >&2; exit 2",
                       io.BytesIO(b"SELECT 1;"), timeout=60)
    # Far more than the engine's and the pipe's buffers: the sender has to wait for it.
    with pytest.raises(BackupFailed, match=r"^did not finish within 1s$"):
        restore_backup(postgres, "sleep 30", io.BytesIO(bytes(20_000_000)), timeout=1)
    assert restore_backup(postgres, "wc -c", io.BytesIO(bytes(3_000_000)),
                          timeout=60).strip() == "3000000"


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[callable]:
    processes: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir),
           "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen}

    def start() -> subprocess.Popen[bytes]:
        processes.append(start_pushdock(["worker"], env,
                                        tmp_path / f"worker-{len(processes)}.log"))
        return processes[-1]

    yield start
    for process in processes:
        stop_group(process)


def test_scheduled_backups_prune_resume_and_a_failure_is_notified(
        postgres, project_name: str, settings: Settings, store: Store, worker) -> None:
    with RecordingServer() as hook:
        notify = (f"notify:\n  - url: json://{hook.url.removeprefix('http://')}/hook\n"
                  "    on: [backup_failed]\n")
        write_project(settings.config_dir, project_name,
                      "{run: pg_dumpall -U postgres, every: 2s, keep: 2, ext: sql}",
                      extra=notify)
        folder = backups_dir(settings.data_dir, project_name, "db")
        first = worker()

        def ok_results() -> int:
            return sum(r.ok for r in store.backups.results(project_name, "db", 50))

        wait_for(lambda: ok_results() >= 3, timeout=180, what="three scheduled backups")
        stop_group(first)
        done_before = ok_results()
        worker()  # the schedule goes on from its last backup, with another worker
        wait_for(lambda: ok_results() >= done_before + 2, timeout=180,
                 what="scheduled backups after the restart")
        wait_for(lambda: len(list(folder.iterdir())) == 2, timeout=30, what="pruning")
        kept = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert sorted(kept) == sorted(f.name for f in store.backups.files(project_name, "db"))
        assert all(r.trigger.value == "schedule" for r in store.backups.results(project_name,
                                                                              "db", 50))

        write_project(settings.config_dir, project_name,
                      "{run: 'pg_dumpall -U postgres | head -c 100; exit 1', every: 2s, "
                      "keep: 2, ext: sql}", extra=notify)
        wait_for(lambda: hook.requests, timeout=180, what="the backup_failed notice")
        notice = hook.requests[0]["body"]
        assert notice["title"] == f"{project_name}: accessory db backup failed"
        assert "event: backup_failed" in notice["message"]
        assert "reason: exited with 1" in notice["message"]
        failed = next(r for r in store.backups.results(project_name, "db", 50) if not r.ok)
        # pg_dumpall itself complains when `head` stops reading: its words end the reason.
        assert (failed.file, failed.size) == ("", 0)
        assert failed.reason.startswith("exited with 1: pg_dumpall: error")
        assert f"reason: {failed.reason}" in notice["message"]
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == kept

"""Backups on data: file names sort as time, which files are backups, pruning to `keep`,
the next scheduled slot, results as records; and in real Redis: the records and the lock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.backups import (
    BackupFile,
    BackupResult,
    BackupStatus,
    BackupTrigger,
    backed_up,
    backup_name,
    backups_of,
    following_slot,
    next_backup,
    parse_backup_name,
    scheduled_backups,
    size_text,
    to_prune,
)
from pipeline.errors import ConfigError
from pipeline.job_names import backup_job_id, backup_job_prefix
from pipeline.names import backups_dir
from pipeline.projects import parse_project
from pipeline.store import Store


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_backup_is_named_by_its_utc_time_and_the_names_sort_as_time() -> None:
    assert backup_name(epoch("2026-12-02T01:30:05.75"), "sql") == "20261202T013005Z.sql"
    assert backup_name(epoch("2026-12-02T01:30:05"), "sql", seq=2) == "20261202T013005Z-2.sql"
    times = [epoch(t) for t in ("2026-01-09T23:59:59", "2026-01-10T00:00:00",
                                "2026-10-01T09:00:00", "2027-01-01T00:00:00")]
    names = [backup_name(t, "dump") for t in times]
    assert sorted(names) == names
    assert [parse_backup_name(n) for n in names] == [(t, 0) for t in times]


def test_only_finished_backups_are_backups() -> None:
    entries = [("20261202T013005Z.sql", 10), (".partial-abc123", 99), ("notes.txt", 3),
               ("20261202T013005Z-1.sql", 11), ("20261201T013005Z.sql", 12),
               ("20261202T013005Z.sql.bak", 5)]
    assert [f.name for f in backups_of(entries)] == [
        "20261202T013005Z-1.sql", "20261202T013005Z.sql", "20261201T013005Z.sql"]
    assert backups_of(entries)[0] == BackupFile("20261202T013005Z-1.sql",
                                                epoch("2026-12-02T01:30:05"), 11, seq=1)


def test_pruning_keeps_the_newest() -> None:
    files = [BackupFile(backup_name(epoch(f"2026-12-0{d}T00:00:00"), "sql"),
                        epoch(f"2026-12-0{d}T00:00:00"), d) for d in (3, 1, 5, 2, 4)]
    assert [f.size for f in to_prune(files, keep=2)] == [3, 2, 1]
    assert to_prune(files, keep=5) == []
    assert to_prune(files, keep=None) == []
    assert [f.size for f in to_prune(files, keep=0)] == [5, 4, 3, 2, 1]


def test_the_next_backup_follows_the_last_attempt() -> None:
    now = epoch("2026-12-02T12:00:00")
    day = 24 * 3600.0
    assert next_backup(day, None, now) == now + day  # never backed up: one period from now
    assert next_backup(day, now - 3600, now) == now - 3600 + day  # resumes its rhythm
    assert next_backup(day, now - 2 * day, now) == now  # overdue (down for days): now
    assert next_backup(5.0, now - 1, now) == now + 4
    assert following_slot(now, 5.0, now + 0.5) == now + 5  # fired on time: the rhythm holds
    assert following_slot(now - 2 * day, day, now) == now + day  # fired two days late


def test_results_and_sizes_read_back() -> None:
    result = BackupResult("shop", "db", BackupStatus.FAILED, BackupTrigger.SCHEDULE, 1.5, 2.5,
                          reason="exited with 1")
    assert BackupResult.from_json(result.to_json()) == result
    assert not result.ok
    assert [size_text(n) for n in (0, 999, 1000, 1_450_000, 3_200_000_000)] == [
        "0 B", "999 B", "1.0 kB", "1.4 MB", "3.2 GB"]


def test_names_of_backups(tmp_path: Path) -> None:
    assert backups_dir(tmp_path, "shop", "db") == tmp_path / "backups" / "shop" / "db"
    one = backup_job_id("shop", "db", 5.0, 1700000000)
    assert one == "backup_shop_db_5_1700000000"
    # Another project's or accessory's jobs never share a prefix, whatever the dashes.
    assert not backup_job_id("shop-db", "x", 5, 1).startswith(backup_job_prefix("shop", "db", 5))
    assert not backup_job_id("shop", "db-x", 5, 1).startswith(backup_job_prefix("shop", "db", 5))
    assert not backup_job_id("shop", "db", 50, 1).startswith(backup_job_prefix("shop", "db", 5))


# -- real Redis -----------------------------------------------------------------------------
def test_records_keep_the_newest_results_and_the_files(store: Store) -> None:
    for n in range(3):
        store.backups.add(BackupResult("shop", "db", BackupStatus.OK, BackupTrigger.MANUAL,
                                       float(n), float(n) + 1, file=f"{n}.sql", size=n))
    files = [BackupFile("20261202T013005Z.sql", epoch("2026-12-02T01:30:05"), 42)]
    store.backups.add(BackupResult("shop", "db", BackupStatus.FAILED, BackupTrigger.SCHEDULE,
                                   9.0, 9.5, reason="exited with 1"), files)
    assert [r.started for r in store.backups.results("shop", "db")] == [9.0, 2.0, 1.0, 0.0]
    assert store.backups.last("shop", "db").reason == "exited with 1"
    assert store.backups.files("shop", "db") == files
    assert store.backups.last("shop", "cache") is None
    assert store.backups.files("shop", "cache") == []


def test_one_backup_of_an_accessory_at_a_time(store: Store) -> None:
    with (store.backups.lock("shop", "db", 60) as first,
          store.backups.lock("shop", "db", 60) as second,
          store.backups.lock("shop", "cache", 60) as other):
        assert (first, second, other) == (True, False, True)
    with store.backups.lock("shop", "db", 60) as again:
        assert again


HEAD = "project: shop\nrepo: /srv/shop.git\nwebhook_secret: s\n"


def test_which_accessory_is_backed_up_and_how() -> None:
    project = parse_project(HEAD + """accessories:
  db:
    image: postgres:15
    backup: {run: pg_dumpall -U postgres, every: 5s, keep: 2, ext: sql}
  cache:
    image: redis:7
""", Path("shop.yml"))
    accessory, backup = backed_up(project, "db")
    assert (accessory.name, backup.every, backup.keep, backup.ext) == ("db", 5.0, 2, "sql")
    assert [(a.name, every) for a, every in scheduled_backups(project)] == [("db", 5.0)]
    with pytest.raises(ConfigError, match=r"^shop has no accessory web \(its accessories: "
                                          r"db, cache\)$"):
        backed_up(project, "web")
    with pytest.raises(ConfigError, match=r"^shop: accessory cache has no `backup:` in "):
        backed_up(project, "cache")


def test_the_project_page_and_api_show_the_backups(settings, store: Store) -> None:
    from webhooks.app import create_app

    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "shop.yml").write_text(HEAD + """accessories:
  db:
    image: postgres:15
    backup: {run: pg_dumpall -U postgres, every: 24h, keep: 3, ext: sql}
  cache:
    image: redis:7
    backup: {run: redis-cli save}
""")
    good = BackupFile("20261202T013005Z.sql", epoch("2026-12-02T01:30:05"), 1_450_000)
    store.backups.add(BackupResult("shop", "db", BackupStatus.OK, BackupTrigger.MANUAL,
                                   good.taken, good.taken + 2, file=good.name,
                                   size=good.size), [good])
    store.backups.add(BackupResult("shop", "db", BackupStatus.FAILED, BackupTrigger.SCHEDULE,
                                   good.taken + 60, good.taken + 61,
                                   reason="exited with 1: disk full"), [good])
    client = create_app(settings).test_client()
    page = client.get("/projects/shop").get_data(as_text=True)
    section = page[page.index('<table id="backups">'):page.index("<h2>Deployments")]
    assert section.count('data-accessory="db"') == 2
    assert "every 1d, keeps 3" in section and "on demand, keeps 7" in section
    assert "exited with 1: disk full" in section and "1.4 MB" in section
    assert "No backups yet." in section  # cache
    assert "1 kept in DATA_DIR/backups/shop/db, newest 20261202T013005Z.sql" in section
    api = client.get("/api/projects/shop/backups").json
    assert [(a["accessory"], a["every"], a["keep"]) for a in api] == [
        ("db", "every 1d", 3), ("cache", "on demand", 7)]
    assert [(r["status"], r["reason"]) for r in api[0]["results"]] == [
        ("failed", "exited with 1: disk full"), ("ok", "")]
    assert api[0]["files"][0]["size"] == 1_450_000
    assert client.get("/api/projects/nope/backups").status_code == 404


def test_a_backup_file_that_cannot_be_read_is_said_before_anything_runs(
        store: Store, tmp_path: Path) -> None:
    from workers.backups import restore_now

    project = parse_project(HEAD + """accessories:
  db:
    image: postgres:15
    backup: {run: pg_dumpall -U postgres, restore: psql -U postgres}
""", Path("shop.yml"))
    with pytest.raises(ConfigError, match=rf"^cannot read {tmp_path}: Is a directory$"):
        restore_now(store, None, project, "db", tmp_path)  # type: ignore[arg-type]
    with store.backups.lock("shop", "db", 60) as held:
        assert held  # nothing was left holding the accessory

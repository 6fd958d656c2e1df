"""`pushdock backup PROJECT NAME` and `pushdock restore PROJECT NAME FILE`: an accessory's
backup taken now (the file it wrote is printed), or a backup file piped into its `restore`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.backups import BackupTrigger, restorable, size_text
from pipeline.errors import BackupFailed, ConfigError
from pipeline.names import backups_dir
from pipeline.settings import Settings
from pushdock.output import say

if TYPE_CHECKING:
    from pipeline.backup_run import Progress  # docker-py: loaded by these commands only

_PROGRESS_EVERY = 1.0  # seconds between two progress lines


def _progress(verb: str) -> Progress:
    """Progress on stderr, once a second at most, when someone watches it."""
    shown = [time.monotonic()]

    def show(done: int) -> None:
        if sys.stderr.isatty() and time.monotonic() - shown[0] >= _PROGRESS_EVERY:
            shown[0] = time.monotonic()
            print(f"\rpushdock: {verb} {size_text(done)}", end="", file=sys.stderr, flush=True)

    return show


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.engine import connect_docker
    from pipeline.projects import load_project
    from pipeline.store import Store, connect
    from workers.backups import backup_now

    assert settings.redis_url is not None
    project = load_project(settings.config_dir, args.project)
    client = connect_docker()
    try:
        result = backup_now(settings, Store(connect(settings.redis_url)), client, project,
                            args.name, BackupTrigger.MANUAL, _progress("written"))
    finally:
        client.close()
    if not result.ok:
        raise BackupFailed(f"the backup of {args.name} failed: {result.reason}")
    path = backups_dir(settings.data_dir, project.name, args.name) / result.file
    say(f"{args.project}: backup of {args.name} written ({size_text(result.size)}, "
        f"{result.finished - result.started:.1f}s)")
    print(path.resolve(), flush=True)  # alone on its line: scripts read it
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.engine import connect_docker
    from pipeline.projects import load_project
    from pipeline.store import Store, connect
    from workers.backups import restore_now

    assert settings.redis_url is not None
    project = load_project(settings.config_dir, args.project)
    restorable(project, args.name)  # before the file: a typo in NAME is the first thing said
    path = _backup_file(settings, project.name, args.name, args.file)
    client = connect_docker()
    try:
        output = restore_now(Store(connect(settings.redis_url)), client, project, args.name,
                             path, _progress("sent"))
    finally:
        client.close()
    if output.strip():
        print(output.rstrip(), flush=True)
    say(f"{args.project}: {path.name} ({size_text(path.stat().st_size)}) restored into "
        f"{args.name}")
    return 0


def _backup_file(settings: Settings, project: str, name: str, given: str) -> Path:
    """FILE as given, or the name of one of the accessory's backups."""
    for path in (Path(given), backups_dir(settings.data_dir, project, name) / given):
        if path.is_file():
            return path
    raise ConfigError(f"no backup file {given} (nor in "
                      f"{backups_dir(settings.data_dir, project, name)})")


def add_backup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help="back an accessory up now (its `backup.run`); "
                            "prints the file written under DATA_DIR/backups")
    backup.set_defaults(handler=cmd_backup)
    backup.add_argument("project")
    backup.add_argument("name", help="the accessory")
    restore = sub.add_parser("restore", help="pipe a backup file into an accessory's "
                             "`backup.restore`")
    restore.set_defaults(handler=cmd_restore)
    restore.add_argument("project")
    restore.add_argument("name", help="the accessory")
    restore.add_argument("file", help="a path, or the name of one of the accessory's backups")


NEEDS_REDIS = frozenset({cmd_backup, cmd_restore})

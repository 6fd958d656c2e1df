"""Backups of accessories: one taken now (the command line) or on its schedule (`every`),
recorded, pruned to `keep`, and a failed scheduled one notified.

A schedule has one pending firing at a time, an RQ job `enqueue_at` its slot with an id made
of the project, the accessory, `every` and the slot, as workers/schedules.py does for runs.
A firing schedules the next one before it backs up, so a worker killed during a backup
leaves the schedule going; when no firing is pending at all (a new accessory, RQ's jobs
lost), the next slot comes from the last recorded attempt, so a restart resumes where it was
and an overdue backup runs at once. A lock per accessory keeps two backups of it apart."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import docker
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from pipeline.accessories import find_accessory
from pipeline.backup_run import Progress, restore_backup, running_accessory, take_backup
from pipeline.backups import (
    BackupFile,
    BackupResult,
    BackupStatus,
    BackupTrigger,
    backed_up,
    backups_of,
    following_slot,
    next_backup,
    restorable,
    scheduled_backups,
    to_prune,
)
from pipeline.config import AccessorySpec, BackupSpec, Project
from pipeline.engine import connect_docker
from pipeline.errors import BackupFailed, ConfigError, EngineUnavailable
from pipeline.job_names import BACKUP_JOB, backup_job_prefix
from pipeline.model import NotifyEvent
from pipeline.names import backups_dir
from pipeline.notifications import Notice
from pipeline.settings import Settings
from pipeline.store import Store
from workers.errors import BackupBusy
from workers.firings import drop_unwanted, open_firing
from workers.notify import notify
from workers.queue import enqueue_backup

log = logging.getLogger("pushdock.backups")


def backup_now(settings: Settings, store: Store, client: docker.DockerClient, project: Project,
               name: str, trigger: BackupTrigger,
               progress: Progress | None = None) -> BackupResult:
    """Take one backup of the accessory `name`, prune to `keep` and record the result (ok
    or not). ConfigError when it has no backup; BackupBusy when another backup of it runs
    (nothing recorded)."""
    accessory, backup = backed_up(project, name)
    with store.backups.lock(project.name, name, backup.timeout) as held:
        if not held:
            raise BackupBusy(f"{project.name}: a backup of {name} is running")
        result = _attempt(settings, client, project, accessory, trigger, progress)
        store.backups.add(result, _prune(settings.data_dir, project.name, accessory.name,
                                         backup if result.ok else None))
    return result


def _attempt(settings: Settings, client: docker.DockerClient, project: Project,
             accessory: AccessorySpec, trigger: BackupTrigger,
             progress: Progress | None) -> BackupResult:
    backup = accessory.backup
    assert backup is not None
    started = time.time()
    folder = backups_dir(settings.data_dir, project.name, accessory.name)
    try:
        container = running_accessory(client, project.name, accessory.name)
        written = take_backup(container, backup.run, folder, backup.ext, started=started,
                              timeout=backup.timeout, progress=progress)
    except BackupFailed as exc:
        return BackupResult(project.name, accessory.name, BackupStatus.FAILED, trigger,
                            started, time.time(), reason=str(exc))
    return BackupResult(project.name, accessory.name, BackupStatus.OK, trigger, started,
                        time.time(), file=written.path.name, size=written.size)


def _prune(data_dir: Path, project: str, accessory: str,
           backup: BackupSpec | None) -> list[BackupFile]:
    """Remove the backups beyond `keep` (none without `backup`: a failed attempt prunes
    nothing); the ones left, newest first."""
    folder = backups_dir(data_dir, project, accessory)
    files = list_backups(folder)
    old = to_prune(files, backup.keep) if backup is not None else []
    for file in old:
        (folder / file.name).unlink(missing_ok=True)
        log.info("%s: removed the backup %s of %s (keep: %s)", project, file.name, accessory,
                 backup.keep if backup else "")
    return [f for f in files if f not in old]


def list_backups(folder: Path) -> list[BackupFile]:
    """The finished backups in `folder`, newest first."""
    try:
        entries = [(entry.name, entry.stat().st_size) for entry in folder.iterdir()
                   if entry.is_file()]
    except FileNotFoundError:
        return []
    return backups_of(entries)


# -- the schedule ---------------------------------------------------------------------------
def _pending_ids(queue: Queue) -> set[str]:
    """Firings scheduled, queued, or running now (a running one has scheduled its next)."""
    ids = [*ScheduledJobRegistry(queue=queue).get_job_ids(), *queue.get_job_ids(),
           *StartedJobRegistry(queue=queue).get_job_ids()]
    return {job_id for job_id in ids if job_id.startswith(BACKUP_JOB)}


def sync(queue: Queue, store: Store, projects: list[Project],
         now: float | None = None) -> list[str]:
    """Give each accessory with `every` its pending firing, and drop the firings of
    schedules no project has any more. Returns the ids of the firings it scheduled."""
    now = time.time() if now is None else now
    pending = _pending_ids(queue)
    wanted = set()
    made = []
    for project in projects:
        for accessory, every in scheduled_backups(project):
            assert accessory.backup is not None
            prefix = backup_job_prefix(project.name, accessory.name, every)
            wanted.add(prefix)
            if any(job_id.startswith(prefix) for job_id in pending):
                continue
            last = store.backups.last(project.name, accessory.name)
            slot = next_backup(every, last.started if last else None, now)
            made.append(enqueue_backup(queue, project.name, accessory.name, every,
                                       math.ceil(slot), accessory.backup.timeout).id)
    drop_unwanted(queue, pending, wanted)
    return made


def fire(project_name: str, accessory_name: str, slot: int) -> str:
    """RQ job: one scheduled backup. Schedules the next one, then backs up (once per
    slot); a failure is notified."""
    firing = open_firing(project_name, f"backup of {accessory_name}")
    if firing is None:
        return "no project"
    accessory = find_accessory(firing.project, accessory_name)
    if accessory is None or accessory.backup is None or not accessory.backup.every:
        return "schedule gone"  # removed from the project file since it was scheduled
    every = accessory.backup.every
    enqueue_backup(firing.queue, firing.project.name, accessory.name, every,
                   math.ceil(following_slot(slot, every, time.time())), accessory.backup.timeout)
    if not firing.store.schedules.claim(firing.project.name, f"backup-{accessory.name}", slot):
        return "fired already"
    return _scheduled_backup(firing.settings, firing.store, firing.queue, firing.project,
                             accessory.name)


def _scheduled_backup(settings: Settings, store: Store, queue: Queue, project: Project,
                      name: str) -> str:
    try:
        client = connect_docker()
    except EngineUnavailable as exc:
        result = BackupResult(project.name, name, BackupStatus.FAILED, BackupTrigger.SCHEDULE,
                              time.time(), time.time(), reason=str(exc))
        store.backups.add(result)
    else:
        try:
            result = backup_now(settings, store, client, project, name, BackupTrigger.SCHEDULE)
        except BackupBusy as exc:
            return str(exc)
        finally:
            client.close()
    if result.ok:
        return f"backup {result.file} ({result.size} bytes)"
    log.warning("%s: the backup of %s failed: %s", project.name, name, result.reason)
    notify(queue, project, Notice(NotifyEvent.BACKUP_FAILED, project.name,
                                  subject=f"accessory {name}", status=result.status.value,
                                  reason=result.reason))
    return f"failed: {result.reason}"


def restore_now(store: Store, client: docker.DockerClient, project: Project, name: str,
                path: Path, progress: Progress | None = None) -> str:
    """Pipe the backup file `path` into the accessory's `restore` command; its output.
    Never while a backup of it runs (BackupBusy)."""
    accessory, backup = restorable(project, name)
    assert backup.restore is not None
    try:
        source = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    with source, store.backups.lock(project.name, name, backup.timeout) as held:
        if not held:
            raise BackupBusy(f"{project.name}: a backup of {name} is running; restore after it")
        container = running_accessory(client, project.name, accessory.name)
        return restore_backup(container, backup.restore, source, timeout=backup.timeout,
                              progress=progress)

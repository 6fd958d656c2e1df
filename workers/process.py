"""The worker process: takes runs off the queue, one at a time, each in a forked work horse.

Beside the queue it keeps the books straight: on start it removes what finished runs left
behind, and every few seconds it marks runs whose worker was lost (SIGKILL, a crash, a
reboot) as `error`, so no run stays `running` forever; and it publishes what the live apps'
containers do for the status page (workers/process_views.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading

import redis
from rq import Worker

from pipeline.build_bounds import apply, describe, engine_guard
from pipeline.docker_cli import docker_cli
from pipeline.engine import connect_docker
from pipeline.errors import PushdockError
from pipeline.job_names import worker_prefix
from pipeline.projects import load_projects
from pipeline.settings import Settings
from pipeline.store import Store, connect
from workers import backups
from workers.approvals import expire_waiting
from workers.lifecycle import reap_lost_runs, remove_leftovers
from workers.previews import sync_expiry
from workers.process_views import start_publisher
from workers.queue import job_connection, run_queue
from workers.recover import recover
from workers.schedules import sync

REAP_INTERVAL = 10.0
SYNC_EVERY = 6  # reaper rounds between two looks at the project files' schedules
log = logging.getLogger("pushdock.worker")


def _reaper(settings: Settings, stop: threading.Event) -> None:
    assert settings.redis_url
    store = Store(connect(settings.redis_url))
    client = None
    rounds = 0
    while not stop.wait(REAP_INTERVAL):
        rounds += 1
        try:
            client = client or connect_docker()
            for run_id in reap_lost_runs(store, client):
                log.warning("run #%s: worker lost; marked error", run_id)
            for run_id in expire_waiting(store):
                log.info("run #%s: no one approved it within 24h; cancelled", run_id)
            if rounds % SYNC_EVERY == 0:
                sync_schedules(settings)
        except Exception as exc:
            log.warning("could not check for lost runs: %s", exc)


def sync_schedules(settings: Settings) -> None:
    """Each schedule of the project files, and each accessory backed up `every` so often,
    gets its next firing (a new or changed one within a minute); a removed one loses it."""
    assert settings.redis_url
    projects, _ = load_projects(settings.config_dir)
    queue = run_queue(job_connection(settings.redis_url))
    store = Store(connect(settings.redis_url))
    for job_id in [*sync(queue, projects), *backups.sync(queue, store, projects)]:
        log.info("scheduled %s", job_id)
    sync_expiry(queue)  # the previews' `expire`, checked every few minutes


def tidy_up(settings: Settings) -> None:
    """What a starting worker owes the others: lost runs marked, leftovers removed."""
    assert settings.redis_url
    store = Store(connect(settings.redis_url))
    try:
        client = connect_docker()
    except PushdockError as exc:
        log.warning("%s", exc)
        return
    try:
        for run_id in reap_lost_runs(store, client):
            log.warning("run #%s: worker lost; marked error", run_id)
        projects, _ = load_projects(settings.config_dir)
        removed = remove_leftovers(store, client, settings.data_dir, {p.name for p in projects})
        if removed:
            log.info("removed what runs %s left behind", ", ".join(f"#{r}" for r in removed))
    finally:
        client.close()


def _hold_builds(settings: Settings) -> None:
    """Set the bounds of build steps where this worker may (the host's cgroups, as root):
    after a reboot the engine's cgroups come back without them. Where it may not, each
    build checks them and fails with the reason."""
    try:
        guard = engine_guard(settings)
        if guard is None:
            return
        try:
            apply(guard.groups, guard.bounds)
        except PushdockError:
            guard.ensure()  # not root: someone else's limits (the compose stack's) may hold
        log.info("%s", describe(guard))
    except PushdockError as exc:
        log.warning("%s", exc)


def work(settings: Settings, *, burst: bool = False) -> bool:
    assert settings.redis_url
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tidy_up(settings)
    _hold_builds(settings)
    try:
        # Found once here: each job's work horse is forked from this process and inherits
        # the answer, instead of asking every docker on PATH again for each build.
        log.info("builds with %s", docker_cli())
    except PushdockError as exc:
        log.warning("%s", exc)  # each build fails with the same reason
    # Before taking jobs: routes a restarted Caddy lost come back, and deploys a killed
    # worker left half-done end with exactly one color serving.
    recover(settings, say=lambda line: print(f"pushdock worker: {line}", flush=True))
    sync_schedules(settings)
    stop = threading.Event()
    reaper = threading.Thread(target=_reaper, args=(settings, stop), name="reaper", daemon=True)
    reaper.start()
    connection = job_connection(settings.redis_url)
    # A random part: a container restarted after a kill has the same hostname and often the
    # same pid, and RQ refuses a name whose registration has not expired yet.
    name = f"{worker_prefix(socket.gethostname())}{os.getpid()}-{secrets.token_hex(3)}"
    start_publisher(settings, name, stop)
    worker = Worker([run_queue(connection)], connection=connection, name=name)
    try:
        # RQ's scheduler fires the schedules: one worker at a time holds its lock.
        return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()


def worker_registered(settings: Settings, hostname: str) -> bool:
    """Whether a worker of this host (container) is registered with RQ and its process runs:
    the container's health check. (A killed worker's registration outlives it a while.)"""
    assert settings.redis_url
    try:
        workers = Worker.all(connection=job_connection(settings.redis_url))
    except redis.exceptions.RedisError:
        return False
    return any(worker.name.startswith(worker_prefix(hostname)) and worker.pid is not None
               and _running(worker.pid) for worker in workers)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

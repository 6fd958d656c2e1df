"""The clean-up of runs whose worker was lost, and of what finished runs left behind."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from pipeline.model import RunStatus
from pipeline.names import (
    LABEL_RUN,
    RUN_ROLES,
    RunRef,
    is_queued_run_id,
    parse_workspace_name,
    role_of_labels,
    run_of_labels,
    workspaces_dir,
)
from pipeline.records.heartbeats import HEARTBEAT_TTL
from pipeline.run_resources import remove_network, remove_run_resources
from pipeline.store import Store

LOST_REASON = "worker lost"


def reap_lost_runs(store: Store, client: docker.DockerClient | None,
                   grace: float = HEARTBEAT_TTL) -> list[str]:
    """Runs marked running whose worker stopped beating: mark them error, free what they held."""
    lost = []
    now = time.time()
    for run in store.runs.active():
        if run.status is not RunStatus.RUNNING or store.heartbeats.alive(run.id):
            continue
        if run.started is not None and now - run.started < grace:
            continue  # its first beat may still be on its way
        store.logs.append(run.id, f"{LOST_REASON}: no heartbeat for {grace:g}s")
        store.runs.finish(run.id, RunStatus.ERROR, LOST_REASON)
        if client is not None:
            remove_run_resources(client, run.project, run.id)
        lost.append(run.id)
    return lost


def remove_leftovers(store: Store, client: docker.DockerClient, data_dir: Path,
                     projects: set[str]) -> list[str]:
    """Containers, networks and workspaces of this instance's runs that have finished.

    Only `projects` (this instance's) are touched: an engine may be shared. Each run's
    record is read when its things are found, not before: another worker may start a run
    meanwhile (workers started together, or one added with --scale), and what a run that
    started after a list was taken holds is not left over.
    """
    removed: set[str] = set()
    finished: set[str] = set()

    def done(run_id: str) -> bool:
        if run_id not in finished:
            run = store.runs.get(run_id)
            if run is not None and not run.status.finished:
                return False
            finished.add(run_id)  # a finished run never runs again
        return True

    def ours(run: RunRef | None) -> str | None:
        # A local `pushdock run` is never touched.
        if run and run.project in projects and is_queued_run_id(run.run_id) \
                and done(run.run_id):
            return run.run_id
        return None

    # ignore_removed: other runs' containers come and go while this looks.
    for container in client.containers.list(all=True, filters={"label": LABEL_RUN},
                                            ignore_removed=True):
        run_id = ours(run_of_labels(container.labels))
        if run_id and role_of_labels(container.labels) in RUN_ROLES:
            try:
                container.remove(force=True)
                removed.add(run_id)
            except (NotFound, APIError):
                pass
    for network in client.networks.list(filters={"label": LABEL_RUN}):
        run_id = ours(run_of_labels(network.attrs.get("Labels") or {}))
        if run_id:
            remove_network(network)
            removed.add(run_id)
    workspaces = workspaces_dir(data_dir.resolve())
    if workspaces.is_dir():
        for workspace in workspaces.iterdir():
            run_id = ours(parse_workspace_name(workspace.name))
            if run_id:
                shutil.rmtree(workspace, ignore_errors=True)
                removed.add(run_id)
    return sorted(removed, key=lambda r: int(r) if r.isdigit() else 0)

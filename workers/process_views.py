"""The workers publish what the live generations' containers do (states, last lines) for
the status page: the web service has no engine. Every worker asks every few seconds; per
project, one holds the turn and publishes, the others skip until it stops."""

from __future__ import annotations

import logging
import threading
import time

from pipeline.deploy.apps import Apps
from pipeline.deploy.members import live_containers, sort_members, stamped_outputs
from pipeline.deploy.process_view import TAIL_LINES, ProcessView, process_tails
from pipeline.engine import connect_docker
from pipeline.model import LiveApp
from pipeline.settings import Settings
from pipeline.store import Store, connect

PUBLISH_INTERVAL = 2.0  # seconds between two views of a project
TURN_ROUNDS = 3  # rounds a worker that stopped asking keeps the turn; then another takes it
log = logging.getLogger("pushdock.processes")


def take_view(apps: Apps, live: LiveApp, now: float | None = None) -> ProcessView:
    """The live generation's members and each process's last lines, as they are now."""
    at = time.time() if now is None else now
    containers = live_containers(apps, live)
    members = sort_members(containers)
    return ProcessView(project=live.project, sha=live.sha, run=live.run,
                       color=live.color.value, at=at, members=tuple(members),
                       tails=process_tails(stamped_outputs(containers, TAIL_LINES), members))


def publish_views(store: Store, apps: Apps, holder: str,
                  interval: float = PUBLISH_INTERVAL) -> list[str]:
    """One round: the view of each live project whose turn this caller took. Returns the
    projects it published."""
    published = []
    for project in store.live.projects():
        live = store.live.get(project)
        turn = interval * TURN_ROUNDS
        if live is None or not store.processes.take_turn(project, turn, holder):
            continue
        store.processes.publish(take_view(apps, live))
        published.append(project)
    return published


def publisher(settings: Settings, holder: str, stop: threading.Event,
              interval: float = PUBLISH_INTERVAL) -> None:
    """Rounds of publish_views until `stop`."""
    assert settings.redis_url
    store = Store(connect(settings.redis_url, timeout=10))
    apps: Apps | None = None
    failing = False
    while not stop.wait(interval):
        try:
            apps = apps or Apps(connect_docker(timeout=10), settings.apps_network)
            publish_views(store, apps, holder, interval)
            failing = False
        except Exception as exc:  # Redis or the engine away: said once, tried next round
            if not failing:
                log.warning("could not publish the processes of the live apps: %s", exc)
            if apps is not None:
                apps.docker.close()
            failing, apps = True, None


def start_publisher(settings: Settings, holder: str, stop: threading.Event) -> None:
    threading.Thread(target=publisher, args=(settings, holder, stop),
                     name="process-views", daemon=True).start()

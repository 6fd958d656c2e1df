"""What a worker does when it starts: put Caddy back on the project networks, give it back
lost routes, finish half-done deploys."""

from __future__ import annotations

from collections.abc import Callable

from docker.errors import DockerException

from pipeline.deploy.apps import Apps
from pipeline.deploy.recovery import Reconciled, Recovery
from pipeline.deploy.router import CaddyRouter
from pipeline.engine import connect_docker
from pipeline.errors import PushdockError
from pipeline.settings import Settings
from pipeline.store import Store, connect


class _Say:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def log(self, line: str) -> None:
        self.say(line)

    def stage(self, *_: object) -> None:
        pass


def recover(settings: Settings, say: Callable[[str], None] = print) -> list[Reconciled]:
    """connect_edges(), restore_routes() then reconcile_all(); a missing engine or Caddy is
    reported, not fatal (the next deploy of each project does the same before it starts)."""
    if not settings.redis_url:
        raise PushdockError("PUSHDOCK_REDIS_URL is not set")
    store = Store(connect(settings.redis_url))
    router = CaddyRouter.from_settings(settings, store)
    try:
        # Pushdock's server first, engine or not: a Caddy that answers already (beside
        # `pushdock up`, or the compose stack's) gets it from the first worker.
        router.ensure_server()
    except PushdockError as exc:
        say(f"could not set up Pushdock's server in Caddy: {exc}")
    try:
        client = connect_docker(timeout=30)
    except PushdockError as exc:
        say(f"recovery skipped: {exc}")
        return []
    try:
        apps = Apps(client, settings.apps_network)
        recovery = Recovery(apps, store, router, _Say(say))
        try:
            for network in apps.connect_edges():
                say(f"connected Caddy and the workers to {network} again")
        except DockerException as exc:
            say(f"could not connect Caddy to the project networks: {exc}")
        try:
            recovery.restore_routes()
            return recovery.reconcile_all()
        except PushdockError as exc:
            say(f"recovery incomplete: {exc}")
            return []
    finally:
        client.close()

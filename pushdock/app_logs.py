"""`pushdock logs PROJECT [PROCESS] [-f] [--tail N]`: the live generation's output, each line
prefixed with its process and replica (web.1 | …)."""

from __future__ import annotations

from pipeline.deploy.apps import Apps, process_of
from pipeline.deploy.members import live_containers, stream_logs
from pipeline.engine import connect_docker
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.store import Store, connect


def app_logs(settings: Settings, project: str, process: str | None, *, follow: bool,
             tail: int) -> int:
    assert settings.redis_url is not None  # the command line found it first
    live = Store(connect(settings.redis_url)).live.get(project)
    if live is None:
        raise ConfigError(f"{project}: nothing is live")
    client = connect_docker()
    try:
        containers = live_containers(Apps(client, settings.apps_network), live)
        names = sorted({process_of(c) for c in containers})
        if process is not None:
            containers = [c for c in containers if process_of(c) == process]
            if not containers:
                raise ConfigError(f"{project} has no process {process} "
                                  f"(its processes: {', '.join(names) or 'none'})")
        if not containers:
            raise ConfigError(f"{project}: the live containers are gone (run `pushdock "
                              "status` and see the worker's reconciliation)")
        stream_logs(containers, _print, tail=tail, follow=follow)
    finally:
        client.close()
    return 0


def _print(line: str) -> None:
    # The app's own lines, as they are (no `pushdock:`): they can be piped on.
    print(line, flush=True)

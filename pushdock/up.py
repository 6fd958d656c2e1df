"""`pushdock up`: everything on this machine — embedded Redis and Caddy unless settings
point elsewhere, the resolver, the web service and the workers — stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.settings import Settings
from pushdock.embedded import caddy_child, redis_child, redis_ready
from pushdock.errors import AlreadyRunning, ChildFailed, StopRequested
from pushdock.health import Part
from pushdock.output import fail, say
from pushdock.redis_location import embedded_url, url_file
from pushdock.supervisor import Child, Supervisor, raise_on_signals

RESTARTS_PER_MINUTE = 5  # a child exiting more often than this stops everything


def pushdock_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pushdock", *args]


def ready_probe(part: Part, env: dict[str, str]) -> Callable[[], bool]:
    """The part's own health check, run in a process of its own: the supervisor stays
    small, never loading the HTTP and DNS clients the checks need."""

    def probe() -> bool:
        try:
            check = subprocess.run(pushdock_argv("healthcheck", part.value), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False
        return check.returncode == 0

    return probe


def up(settings: Settings, *, workers: int, web_processes: int) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    running = embedded_url(settings.data_dir)
    if settings.redis_url is None and running is not None and redis_ready(running):
        # A second Redis on the same files would take the first one's socket and data.
        raise AlreadyRunning(f"a Pushdock is running with its data in "
                             f"{settings.data_dir.resolve()} already (its Redis answers at "
                             f"{running}); stop it first, or give this one another "
                             "PUSHDOCK_DATA_DIR")
    supervisor = Supervisor(say)
    raise_on_signals()
    try:
        env = _start_storage(settings, supervisor)
        if env is None:
            return fail(f"Redis at PUSHDOCK_REDIS_URL={settings.redis_url} does not answer")
        _start_proxy(settings, supervisor, env)
        _start_services(settings, supervisor, env, workers, web_processes)
        return _keep_running(supervisor)
    except StopRequested as stop:
        say(f"{stop}: stopping")
        return 0
    except ChildFailed as exc:
        return fail(str(exc))
    finally:
        # Signals during shutdown must not interrupt it half way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        if settings.redis_url is None:  # the file this `up` wrote, for its own Redis
            url_file(settings.data_dir).unlink(missing_ok=True)


def _start_storage(settings: Settings, supervisor: Supervisor) -> dict[str, str] | None:
    """The environment the children share, with the Redis they use; None if it is away."""
    env = dict(os.environ)
    if settings.redis_url is not None:
        return env if redis_ready(settings.redis_url) else None
    child, url = redis_child(settings.data_dir)
    supervisor.start(child, ready=lambda: redis_ready(url))
    # Other commands in other terminals find this Redis through the file.
    url_file(settings.data_dir).write_text(url + "\n")
    env["PUSHDOCK_REDIS_URL"] = url
    return env


def _start_proxy(settings: Settings, supervisor: Supervisor, env: dict[str, str]) -> None:
    # A Caddy of its own starts with Pushdock's server in its config; one that answers
    # already is given the server by the first worker, before it takes a job
    # (Recovery.restore_routes).
    caddy_ready = ready_probe(Part.CADDY, env)
    if caddy_ready():
        say(f"using the Caddy that answers at {settings.caddy_admin}")
    else:
        supervisor.start(caddy_child(settings.data_dir, settings.caddy_admin,
                                     settings.proxy_listen, env, https=settings.proxy_https),
                         ready=caddy_ready)


def _start_services(settings: Settings, supervisor: Supervisor, env: dict[str, str],
                    workers: int, web_processes: int) -> None:
    logs = settings.data_dir / "log"
    logs.mkdir(exist_ok=True)
    # Started before anything can switch a route, and restarted whenever it exits:
    # the apps' routes ask it where to send each request.
    if settings.resolver_is_local:
        supervisor.start(Child("resolver", pushdock_argv("resolver"), env=env,
                               log=logs / "resolver.log"),
                         ready=ready_probe(Part.RESOLVER, env))
    # One machine at rest: every web process holds its own copy of the app in memory.
    web = pushdock_argv("serve", "--processes", str(web_processes))
    supervisor.start(Child("web", web, env=env, log=logs / "web.log"),
                     ready=ready_probe(Part.WEB, env))
    for number in range(1, workers + 1):
        supervisor.start(Child(f"worker-{number}", pushdock_argv("worker"), env=env,
                               log=logs / f"worker-{number}.log", grace=15))
    say(f"status page: {settings.base_url}/  ·  webhooks: {settings.base_url}/hooks/"
        f"<project>  ·  apps: {settings.proxy_listen}  ·  logs: {logs}/")
    say("press Ctrl-C to stop")


@dataclass
class _Restarts:
    times: list[float] = field(default_factory=list)

    def too_many(self) -> bool:
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < 60] + [now]
        return len(self.times) > RESTARTS_PER_MINUTE


def _keep_running(supervisor: Supervisor) -> int:
    """Restart workers and the resolver when they exit; anything else ends `up`."""
    restarts = _Restarts()
    while True:
        exited = supervisor.wait()
        code = exited.process.returncode if exited.process else None
        if not exited.name.startswith(("worker-", "resolver")):
            say(f"{exited.name} exited (code {code}); stopping everything")
            return 1
        # A lost worker is replaced; its run is marked `error` by the next reaper round.
        if restarts.too_many():
            say(f"{exited.name} keeps exiting (code {code}); stopping everything")
            return 1
        say(f"{exited.name} exited (code {code}); starting it again")
        supervisor.restart(exited)

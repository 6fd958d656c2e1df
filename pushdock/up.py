"""`pushdock up`: everything on this machine — embedded Redis and Caddy unless settings
point elsewhere, the resolver, the web service and the workers — stopped together."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field

from pipeline.deploy.router import CaddyRouter
from pipeline.settings import Settings, reachable_host, split_host_port
from pushdock.embedded import caddy_child, redis_child, redis_ready
from pushdock.output import fail, say
from pushdock.redis_location import url_file
from pushdock.supervisor import Child, ChildFailed, StopRequested, Supervisor, raise_on_signals

RESTARTS_PER_MINUTE = 5  # a child exiting more often than this stops everything


def pushdock_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pushdock", *args]


def http_ok(url: str) -> bool:
    # urllib: the supervisor and health checks stay as light as the standard library.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(200 <= response.status < 300)
    except (OSError, urllib.error.URLError):
        return False


def resolver_ready(settings: Settings) -> bool:
    from pipeline.deploy import resolver

    host, port = split_host_port(settings.resolver_listen, "PUSHDOCK_RESOLVER_LISTEN")
    return resolver.answers(reachable_host(host), port)


def up(settings: Settings, workers: int) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(say)
    raise_on_signals()
    try:
        env = _start_storage(settings, supervisor)
        if env is None:
            return fail(f"Redis at PUSHDOCK_REDIS_URL={settings.redis_url} does not answer")
        _start_proxy(settings, supervisor, env)
        _start_services(settings, supervisor, env, workers)
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
    router = CaddyRouter.from_settings(settings)
    if router.reachable():
        say(f"using the Caddy that answers at {settings.caddy_admin}")
    else:
        supervisor.start(caddy_child(settings.data_dir, settings.caddy_admin,
                                     settings.proxy_listen, env, https=settings.proxy_https),
                         ready=router.reachable)
    router.ensure_server()


def _start_services(settings: Settings, supervisor: Supervisor, env: dict[str, str],
                    workers: int) -> None:
    logs = settings.data_dir / "log"
    logs.mkdir(exist_ok=True)
    # Started before anything can switch a route, and restarted whenever it exits:
    # the apps' routes ask it where to send each request.
    if settings.resolver_is_local:
        supervisor.start(Child("resolver", pushdock_argv("resolver"), env=env,
                               log=logs / "resolver.log"),
                         ready=lambda: resolver_ready(settings))
    supervisor.start(Child("web", pushdock_argv("serve"), env=env, log=logs / "web.log"),
                     ready=lambda: http_ok(f"{settings.base_url}/healthz"))
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

"""`pushdock`: the command line, and the composition root that wires the packages together."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pipeline.deploy.router import CaddyRouter
from pipeline.errors import ConfigError, PushdockError
from pipeline.model import Deployment, DeployResult
from pipeline.projects import parse_project
from pipeline.settings import Settings, reachable_host, split_host_port
from pipeline.spec import SPEC_FILENAME, parse_spec
from pipeline.store import Store, connect
from pipeline.units import format_duration
from workers.embedded import caddy_child, redis_child, redis_ready
from workers.supervisor import Child, ChildFailed, StopRequested, Supervisor, raise_on_signals


def say(message: str) -> None:
    print(f"pushdock: {message}", flush=True)


def fail(message: str) -> int:
    print(f"pushdock: error: {message}", file=sys.stderr, flush=True)
    return 1


def _pushdock_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "webhooks.cli", *args]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(200 <= response.status < 300)
    except (OSError, urllib.error.URLError):
        return False


# -- up ---------------------------------------------------------------------------------------
def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.data_dir / "log"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ)
    supervisor = Supervisor(say)
    raise_on_signals()
    try:
        if settings.redis_url is None:
            child, url = redis_child(settings.data_dir)
            supervisor.start(child, ready=lambda: redis_ready(url))
            env["PUSHDOCK_REDIS_URL"] = url
        elif not redis_ready(settings.redis_url):
            return fail(f"Redis at PUSHDOCK_REDIS_URL={settings.redis_url} does not answer")

        router = CaddyRouter.from_settings(settings)
        if router.reachable():
            say(f"using the Caddy that answers at {settings.caddy_admin}")
        else:
            supervisor.start(caddy_child(settings.data_dir, settings.caddy_admin,
                                         settings.proxy_listen, env,
                                         https=settings.proxy_https),
                             ready=router.reachable)
        router.ensure_server()

        # Started before anything can switch a route, and restarted whenever it exits:
        # the apps' routes ask it where to send each request.
        if settings.resolver_is_local:
            supervisor.start(Child("resolver", _pushdock_argv("resolver"), env=env,
                                   log=logs / "resolver.log"),
                             ready=lambda: _resolver_ready(settings))
        supervisor.start(Child("web", _pushdock_argv("serve"), env=env, log=logs / "web.log"),
                         ready=lambda: _http_ok(f"{settings.base_url}/healthz"))
        for number in range(1, args.workers + 1):
            supervisor.start(Child(f"worker-{number}", _pushdock_argv("worker"), env=env,
                                   log=logs / f"worker-{number}.log", grace=15))
        say(f"status page: {settings.base_url}/  ·  webhooks: {settings.base_url}/hooks/"
            f"<project>  ·  apps: {settings.proxy_listen}  ·  logs: {logs}/")
        say("press Ctrl-C to stop")
        restarts: list[float] = []
        while True:
            exited = supervisor.wait()
            code = exited.process.returncode if exited.process else None
            if not exited.name.startswith(("worker-", "resolver")):
                say(f"{exited.name} exited (code {code}); stopping everything")
                return 1
            # A lost worker is replaced; its run is marked `error` by the next reaper round.
            restarts = [t for t in restarts if time.monotonic() - t < 60] + [time.monotonic()]
            if len(restarts) > 5:
                say(f"{exited.name} keeps exiting (code {code}); stopping everything")
                return 1
            say(f"{exited.name} exited (code {code}); starting it again")
            supervisor.restart(exited)
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


# -- serve / worker ---------------------------------------------------------------------------
def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set (`pushdock up` starts an embedded Redis)")
    argv = [sys.executable, "-m", "gunicorn", "--bind", settings.bind,
            "--workers", str(args.processes), "--worker-class", "gthread",
            "--threads", str(args.threads), "--graceful-timeout", "10",
            "--access-logfile", "-", "--logger-class", "webhooks.access_log.AccessLogger",
            "webhooks.wsgi:app"]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set (`pushdock up` starts an embedded Redis)")
    if args.n > 1:
        supervisor = Supervisor(say)
        raise_on_signals()
        try:
            for number in range(1, args.n + 1):
                supervisor.start(Child(f"worker-{number}", _pushdock_argv("worker"), grace=15))
            supervisor.wait()
            return 1
        except StopRequested:
            return 0
        finally:
            supervisor.stop_all()
    from workers.process import work

    work(settings, burst=args.burst)
    return 0


def cmd_resolver(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set (`pushdock up` starts an embedded Redis)")
    from pipeline.deploy import resolver

    resolver.run(settings.redis_url, settings.resolver_listen, log=say)
    return 0


def _resolver_ready(settings: Settings) -> bool:
    from pipeline.deploy import resolver

    host, port = split_host_port(settings.resolver_listen, "PUSHDOCK_RESOLVER_LISTEN")
    return resolver.answers(reachable_host(host), port)


def cmd_healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when this container's part answers: the container health check."""
    if args.role == "resolver":
        return 0 if _resolver_ready(settings) else 1
    if args.role == "web":
        host, port = split_host_port(settings.bind, "PUSHDOCK_BIND")
        host = reachable_host(host)
        return 0 if _http_ok(f"http://{host}:{port}/healthz") else 1
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set")
    from workers.process import worker_registered

    return 0 if worker_registered(settings, socket.gethostname()) else 1


# -- run / cancel -----------------------------------------------------------------------------
def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks.local_run import run_locally

    return run_locally(settings, Path(args.path), sha=args.sha, deploy=not args.no_deploy,
                       project_name=args.project)


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set; point it at the Redis of a running Pushdock")
    from workers.lifecycle import cancel_run

    run = cancel_run(Store(connect(settings.redis_url)), args.run.lstrip("#"),
                     reason="cancelled from the command line")
    if run.status.finished:
        say(f"run #{run.id} cancelled")
    else:
        say(f"run #{run.id} is being stopped (its worker stops its containers within seconds)")
    return 0


# -- check / status ---------------------------------------------------------------------------
def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_dir():
        path = path / SPEC_FILENAME
    try:
        text = path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {path}: {exc.strerror}")
    try:
        if path.name == SPEC_FILENAME:
            spec = parse_spec(text, str(path))
            say(f"{path}: ok ({len(spec.test.steps)} test steps)")
        else:
            project = parse_project(text, path)
            say(f"{path}: ok (project {project.name}, {project.forge.value}, "
                f"{'deploys to ' + project.deploy.host if project.deploy.host else 'no deploy'})")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return fail("PUSHDOCK_REDIS_URL is not set; point it at the Redis of a running Pushdock")
    store = Store(connect(settings.redis_url))
    projects = [args.project] if args.project else sorted(
        set(store.live_projects()) | set(store.deployed_projects()))
    for name in projects:
        live = store.live(name)
        if live:
            print(f"{name}: live {live.color.value} {live.sha[:7]} (run #{live.run}) "
                  f"at {live.upstream}" + (f" for {live.host}" if live.host else ""))
        else:
            print(f"{name}: nothing live")
        in_progress = store.deploying(name)
        for line in history_lines([in_progress] if in_progress else [], verbose=False):
            print(f"  {line}")
        for line in history_lines(store.deployments(name, limit=args.limit),
                                  verbose=bool(args.project)):
            print(f"  {line}")
    runs = store.list_runs(args.project, limit=args.limit)
    if not runs:
        print("no runs yet")
    for run in runs:
        took = format_duration(run.duration) if run.duration is not None else ""
        print(f"#{run.id:<5} {run.project:<16} {run.short_sha} {run.status.value:<10} "
              f"{took:>7}  {run.branch}  {(run.message.splitlines() or [''])[0][:50]}")
        if run.reason:
            print(f"       {run.reason}")
    return 0


# -- post-receive -------------------------------------------------------------------------
def cmd_post_receive(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks.post_receive import SECRET_VARIABLE, post_receive

    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        return fail(f"{SECRET_VARIABLE} is not set (the project's webhook_secret)")
    return post_receive(args.project, args.url, secret, sys.stdin, sys.stdout, sys.stderr)
def history_lines(deployments: Sequence[Deployment], *, verbose: bool) -> list[str]:
    """One line per deployment (newest first); with `verbose`, a failure's health log."""
    lines = []
    for d in deployments:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.started))
        switched = f"switched +{format_duration(d.switched - d.started)}" if d.switched else ""
        took = format_duration(d.finished - d.started) if d.finished else "…"
        lines.append(f"{d.sha[:7]} run #{d.run:<4} {d.trigger:<8} {when}  {switched:<17} "
                     f"{took:>7}  {d.result}" + (f": {d.reason}" if d.reason else ""))
        if verbose and d.result != DeployResult.LIVE:
            lines.extend(f"    {line}" for line in d.health[-12:])
    return lines


# -- deploy / rollback ------------------------------------------------------------------------
def cmd_deploy(settings: Settings, args: argparse.Namespace) -> int:
    from workers.deploys import deploy_sha

    deployment = deploy_sha(settings, args.project, args.sha, say=say)
    say(f"{args.project}: {deployment.sha[:7]} is live ({deployment.color.value})")
    return 0


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from workers.deploys import rollback

    deployment = rollback(settings, args.project, args.to, say=say)
    say(f"{args.project}: rolled back to {deployment.sha[:7]} ({deployment.color.value})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushdock", description="Push → build → test → "
                                     "blue/green deploy, self-hosted.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run everything on this machine (embedded Redis and Caddy)")
    up.add_argument("-n", "--workers", type=int, default=1, help="worker processes (1)")
    up.set_defaults(handler=cmd_up)

    serve = sub.add_parser("serve", help="run the web service (gunicorn)")
    serve.add_argument("--processes", type=int, default=2)
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="run worker process(es)")
    worker.add_argument("-n", type=int, default=1, help="worker processes (1)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(handler=cmd_worker)

    resolver = sub.add_parser("resolver", help="answer Caddy's lookups of where each "
                              "project's live app listens (DNS on PUSHDOCK_RESOLVER_LISTEN)")
    resolver.set_defaults(handler=cmd_resolver)

    health = sub.add_parser("healthcheck", help="exit 0 when the web service, the resolver "
                            "or this host's worker answers (for container health checks)")
    health.add_argument("role", choices=("web", "worker", "resolver"))
    health.set_defaults(handler=cmd_healthcheck)

    check = sub.add_parser("check", help="validate a .pushdock.yml or a pipelines.d file")
    check.add_argument("path")
    check.set_defaults(handler=cmd_check)

    run = sub.add_parser("run", help="run a checkout's pipeline now, in the terminal")
    run.add_argument("path", help="the checkout (a directory with a Dockerfile)")
    run.add_argument("--sha", help="check out this commit instead of using the working tree")
    run.add_argument("--no-deploy", action="store_true", help="build and test only")
    run.add_argument("--project", help="the project file to use (default: the directory name)")
    run.set_defaults(handler=cmd_run)

    cancel = sub.add_parser("cancel", help="cancel a queued or running run")
    cancel.add_argument("run", help="the run id")
    cancel.set_defaults(handler=cmd_cancel)

    deploy = sub.add_parser("deploy", help="deploy an image already built, without a rebuild")
    deploy.add_argument("project")
    deploy.add_argument("--sha", help="commit (or a prefix); default: the newest image built")
    deploy.set_defaults(handler=cmd_deploy)

    rollback = sub.add_parser("rollback", help="go back to an earlier deployment")
    rollback.add_argument("project")
    rollback.add_argument("--to", metavar="SHA",
                          help="commit (or a prefix); default: the one before the live one")
    rollback.set_defaults(handler=cmd_rollback)

    status = sub.add_parser("status", help="runs, what is live, and deployment history")
    status.add_argument("project", nargs="?")
    status.add_argument("--limit", type=int, default=20)
    status.set_defaults(handler=cmd_status)
    post_receive = sub.add_parser(
        "post-receive", help="send a git server's pushes to Pushdock (run from the "
        "post-receive hook; reads git's ref lines on stdin; secret in PUSHDOCK_WEBHOOK_SECRET)")
    post_receive.add_argument("project")
    post_receive.add_argument("url", help="Pushdock's URL, e.g. https://ci.example.com")
    post_receive.set_defaults(handler=cmd_post_receive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.handler(settings, args))
    except PushdockError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

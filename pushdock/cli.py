"""`pushdock`: the command line. Each command imports what it needs when it runs, so a
process started for one part (the resolver, a health check) loads only that part."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.errors import ConfigError, PushdockError
from pipeline.settings import Settings
from pushdock import backups as backup_commands
from pushdock.health import Part
from pushdock.output import fail, say
from pushdock.previews import HANDLERS as PREVIEW_HANDLERS
from pushdock.previews import add_preview_commands
from pushdock.redis_location import with_redis

Handler = Callable[[Settings, argparse.Namespace], int]


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from pushdock.up import up

    return up(settings, workers=args.workers, web_processes=args.web_processes)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "gunicorn", "--bind", settings.bind,
            "--workers", str(args.processes), "--worker-class", "gthread",
            "--threads", str(args.threads), "--graceful-timeout", "10",
            "--access-logfile", "-", "--logger-class", "webhooks.access_log.AccessLogger",
            "webhooks.wsgi:app"]
    # The web service finds Redis through the environment, as in the compose stack.
    os.environ["PUSHDOCK_REDIS_URL"] = str(settings.redis_url)
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if args.n > 1:
        from pushdock.errors import StopRequested
        from pushdock.supervisor import Child, Supervisor, raise_on_signals
        from pushdock.up import pushdock_argv

        env = {**os.environ, "PUSHDOCK_REDIS_URL": str(settings.redis_url)}
        supervisor = Supervisor(say)
        raise_on_signals()
        try:
            for number in range(1, args.n + 1):
                supervisor.start(Child(f"worker-{number}", pushdock_argv("worker"), env=env,
                                       grace=15))
            supervisor.wait()
            return 1
        except StopRequested:
            return 0
        finally:
            supervisor.stop_all()
    from pipeline.engine_isolation import engine_gap
    from workers.process import work

    if (gap := engine_gap()) is not None:
        say(f"warning: {gap.describe()}")
    work(settings, burst=args.burst)
    return 0


def cmd_resolver(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.deploy import resolver

    assert settings.redis_url is not None
    resolver.run(settings.redis_url, settings.resolver_listen, log=say)
    return 0


def cmd_healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when this container's part answers: the container health check."""
    from pushdock.health import answers

    return 0 if answers(settings, Part(args.role)) else 1


def cmd_build_bounds(settings: Settings, args: argparse.Namespace) -> int:
    """Set the limits of build steps on this host's engine (root; once after each boot)."""
    from pipeline.build_bounds import apply, describe, engine_guard

    guard = engine_guard(settings)
    if guard is None:
        say("build bounds are off (PUSHDOCK_BUILD_BOUNDS)")
        return 0
    apply(guard.groups, guard.bounds)
    say(describe(guard))
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from pushdock.local_run import run_locally

    return run_locally(settings, Path(args.path), sha=args.sha, deploy=not args.no_deploy,
                       project_name=args.project)


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.store import Store, connect
    from workers.actions import cancel_run

    assert settings.redis_url is not None
    run = cancel_run(Store(connect(settings.redis_url)), args.run.lstrip("#"),
                     reason="cancelled from the command line")
    if run.status.finished:
        say(f"run #{run.id} cancelled")
    else:
        say(f"run #{run.id} is being stopped (its worker stops its containers within seconds)")
    return 0


# -- approvals -------------------------------------------------------------------------------
def _who() -> str:
    import getpass
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()} (command line)"


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.store import Store, connect
    from workers.approvals import approve
    from workers.queue import job_connection, run_queue

    assert settings.redis_url is not None
    run = approve(Store(connect(settings.redis_url)),
                  run_queue(job_connection(settings.redis_url)), args.run.lstrip("#"), _who())
    say(f"run #{run.id} approved: it goes on to its "
        f"{run.approval.next.value if run.approval else 'deploy'}")
    return 0


def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.store import Store, connect
    from workers.approvals import reject

    assert settings.redis_url is not None
    run = reject(Store(connect(settings.redis_url)), args.run.lstrip("#"), _who())
    say(f"run #{run.id} rejected: {run.reason}")
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.projects import parse_project
    from pipeline.spec import SPEC_FILENAME, parse_spec, read_spec_file

    path = Path(args.path)
    if path.is_dir():
        path = path / SPEC_FILENAME
    try:
        text = read_spec_file(path) if path.name == SPEC_FILENAME else path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {path}: {exc.strerror}")
    try:
        if path.name == SPEC_FILENAME:
            spec = parse_spec(text, str(path), settings.ceilings)
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
    from pushdock.status import status

    return status(settings, args.project, args.limit)


def cmd_post_receive(settings: Settings, args: argparse.Namespace) -> int:
    from pushdock.post_receive import SECRET_VARIABLE, post_receive

    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        return fail(f"{SECRET_VARIABLE} is not set (the project's webhook_secret)")
    return post_receive(args.project, args.url, secret, sys.stdin, sys.stdout, sys.stderr)


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


def cmd_logs(settings: Settings, args: argparse.Namespace) -> int:
    from pushdock.app_logs import app_logs

    return app_logs(settings, args.project, args.process, follow=args.follow, tail=args.tail)


def cmd_accessory(settings: Settings, args: argparse.Namespace) -> int:
    from pushdock.accessory import accessory_command

    return accessory_command(settings, args)


# Commands that read or write records: they find the Redis of the Pushdock running here.
NEEDS_REDIS: frozenset[Handler] = frozenset({
    cmd_serve, cmd_worker, cmd_resolver, cmd_cancel, cmd_status, cmd_deploy, cmd_rollback,
    cmd_approve, cmd_reject, cmd_logs, cmd_accessory, *PREVIEW_HANDLERS,
}) | backup_commands.NEEDS_REDIS


def _line_count(value: str) -> int:
    """--tail N: a count of lines, refused plainly when it is none (-5, ten)."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of lines (0 or more)")
    return int(value)


def _add(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
         handler: Handler, help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushdock", description="Push → build → test → "
                                     "blue/green deploy, self-hosted.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_service_commands(sub)
    _add_run_commands(sub)
    _add_app_commands(sub)
    _add_accessory_command(sub)
    add_preview_commands(_add, sub)
    backup_commands.add_backup_commands(sub)
    return parser


def _add_service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = _add(sub, "up", cmd_up, "run everything on this machine (embedded Redis and Caddy)")
    up.add_argument("-n", "--workers", type=int, default=1, help="worker processes (1)")
    up.add_argument("--web-processes", type=int, default=1, metavar="N",
                    help="web service processes (1: enough for hundreds of webhooks a "
                         "second; `pushdock serve` alone runs 2)")
    serve = _add(sub, "serve", cmd_serve, "run the web service (gunicorn)")
    serve.add_argument("--processes", type=int, default=2, help="gunicorn processes (2)")
    serve.add_argument("--threads", type=int, default=8)
    worker = _add(sub, "worker", cmd_worker, "run worker process(es)")
    worker.add_argument("-n", type=int, default=1, help="worker processes (1)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    _add(sub, "resolver", cmd_resolver, "answer Caddy's lookups of where each project's live "
         "app listens (DNS on PUSHDOCK_RESOLVER_LISTEN)")
    health = _add(sub, "healthcheck", cmd_healthcheck, "exit 0 when the web service, the "
                  "resolver, Caddy's admin API or this host's worker answers (for health "
                  "checks)")
    health.add_argument("role", choices=[part.value for part in Part])
    _add(sub, "build-bounds", cmd_build_bounds, "hold the memory and processes of build steps "
         "on this host's engine to PUSHDOCK_BUILD_MEMORY and PUSHDOCK_BUILD_PIDS (as root)")
    post_receive = _add(
        sub, "post-receive", cmd_post_receive, "send a git server's pushes to Pushdock (run "
        "from the post-receive hook; reads git's ref lines on stdin; secret in "
        "PUSHDOCK_WEBHOOK_SECRET)")
    post_receive.add_argument("project")
    post_receive.add_argument("url", help="Pushdock's URL, e.g. https://ci.example.com")


def _add_run_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = _add(sub, "check", cmd_check, "validate a .pushdock.yml or a pipelines.d file")
    check.add_argument("path")
    run = _add(sub, "run", cmd_run, "run a checkout's pipeline now, in the terminal")
    run.add_argument("path", help="the checkout (a directory with a Dockerfile)")
    run.add_argument("--sha", help="check out this commit instead of using the working tree")
    run.add_argument("--no-deploy", action="store_true", help="build and test only")
    run.add_argument("--project", help="the project file to use (default: the directory name)")
    cancel = _add(sub, "cancel", cmd_cancel, "cancel a queued or running run")
    cancel.add_argument("run", help="the run id")
    approve = _add(sub, "approve", cmd_approve, "let a run waiting for approval go on")
    approve.add_argument("run", help="the run id")
    reject = _add(sub, "reject", cmd_reject, "refuse a run waiting for approval (cancelled)")
    reject.add_argument("run", help="the run id")
    status = _add(sub, "status", cmd_status, "runs, what is live, and deployment history")
    status.add_argument("project", nargs="?")
    status.add_argument("--limit", type=int, default=20)


def _add_app_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = _add(sub, "deploy", cmd_deploy, "deploy an image already built, without a rebuild")
    deploy.add_argument("project")
    deploy.add_argument("--sha", help="commit (or a prefix); default: the newest image built")
    rollback = _add(sub, "rollback", cmd_rollback, "go back to an earlier deployment")
    rollback.add_argument("project")
    rollback.add_argument("--to", metavar="SHA",
                          help="commit (or a prefix); default: the one before the live one")
    logs = _add(sub, "logs", cmd_logs, "the live app's output, each line prefixed with its "
                "process and replica")
    logs.add_argument("project")
    logs.add_argument("process", nargs="?", help="web or a process's name; default: all")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=_line_count, default=100, metavar="N",
                      help="lines of each container to start with (100)")


def _add_accessory_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accessory = _add(sub, "accessory", cmd_accessory, "start, stop, restart (applies a changed "
                     "definition, keeps the data), show the logs of, or remove an accessory")
    accessory.add_argument("project")
    accessory.add_argument("name", help="the accessory's name in the project file")
    accessory.add_argument("action", choices=("start", "stop", "restart", "logs", "remove"))
    accessory.add_argument("-f", "--follow", action="store_true",
                           help="logs: keep printing new lines")
    accessory.add_argument("--tail", type=_line_count, default=100, metavar="N",
                           help="logs: lines to start with (100)")
    accessory.add_argument("--yes", action="store_true",
                           help="remove: yes, delete its volumes and all their data")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.handler in NEEDS_REDIS:
            settings = with_redis(settings)
        return int(args.handler(settings, args))
    except PushdockError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

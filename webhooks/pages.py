"""The status pages: dashboard, project, run, badge — and the forms behind their buttons."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_template,
    stream_with_context,
)
from markupsafe import Markup
from rq import Worker

from pipeline.backups import BackupFile, BackupResult, size_text
from pipeline.errors import PushdockError, StoreUnavailable
from pipeline.model import Deployment, DeployResult, LiveApp, Run, RunStatus
from pipeline.names import is_project_name
from pipeline.previews import preview_url
from pipeline.records.deployments import DEPLOYMENTS_KEPT
from pipeline.schedules import next_slot, utc_text
from pipeline.settings import resolver_host_port
from pipeline.status_report import preview_link
from pipeline.units import duration_text as every_text
from pipeline.units import format_duration
from webhooks.ansi import ansi_to_html
from webhooks.auth import can_write, csrf_token, logged_in, require_write
from webhooks.graphics import STATUS_COLORS, UNKNOWN_COLOR, badge_svg, history_chart
from webhooks.processes import seen
from webhooks.services import services
from workers import actions, approvals
from workers.queue import enqueue_deploy, enqueue_rollback

blueprint = Blueprint("pages", __name__)
RUNS_PER_PAGE = 25
SHA_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")  # how a person names a commit
LOG_LINES_ON_PAGE = 1_000  # the rest is one click away, as plain text


@dataclass(frozen=True)
class ProjectRow:
    name: str
    live: LiveApp | None
    since: float | None
    last_run: Run | None


def duration_text(run: Run) -> str:
    if run.started is None:
        return ""
    end = run.finished if run.finished is not None else time.time()
    return format_duration(end - run.started)


def age_text(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return format_duration(max(0.0, time.time() - timestamp)) + " ago"


@blueprint.app_template_filter("duration")
def _duration_filter(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


@blueprint.app_template_filter("clock")
def _clock_filter(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                      time.localtime(timestamp))


@blueprint.app_template_filter("ansi")
def _ansi_filter(line: str) -> Markup:
    return ansi_to_html(line)


@blueprint.app_template_filter("iso")
def _iso_filter(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@blueprint.app_context_processor
def _helpers() -> dict[str, object]:
    return {"duration_text": duration_text, "age_text": age_text, "can_write": can_write,
            "logged_in": logged_in, "csrf_token": csrf_token,
            "write_enabled": bool(services().settings.token), "size_text": size_text}


def project_names() -> list[str]:
    svc = services()
    names = {path.stem for path in svc.settings.config_dir.glob("*.yml")
             if is_project_name(path.stem)}
    return sorted(names | set(svc.store.runs.projects()))


def project_or_404(name: str) -> str:
    if not is_project_name(name) or name not in project_names():
        abort(404)
    return name


def workers_alive() -> int:
    return Worker.count(connection=services().queue.connection)


def resolver_down() -> str | None:
    """The resolver's address when it does not answer (Caddy then finds no app), else None."""
    # Imported on the first dashboard view: the DNS client stays out of a service at rest.
    from pipeline.deploy.resolver import answers as resolver_answers

    address = services().settings.resolver
    if address is None:
        return None
    host, port = resolver_host_port(address)
    return None if resolver_answers(host, port, timeout=0.3) else address.removeprefix("udp/")


@blueprint.errorhandler(StoreUnavailable)
def _store_down(_error: Exception):
    return render_template("message.html", title="Unavailable",
                           message="Redis is unavailable; records cannot be read now."), 503


@blueprint.get("/")
def dashboard():
    store = services().store
    names = project_names()
    lives = store.live.many(names)
    since = live_since(names, lives)
    last_runs = store.runs.latest_of(names)
    rows = [ProjectRow(name, lives.get(name), since.get(name), last_runs.get(name))
            for name in names]
    return render_template("dashboard.html", projects=rows, runs=store.runs.list(limit=20),
                           workers=workers_alive(), resolver_down=resolver_down(),
                           queued=any(r.status is RunStatus.QUEUED for r in last_runs.values()))


def went_live(live: LiveApp | None, history: Iterable[Deployment]) -> float | None:
    """When what serves now started serving: the switch of the newest deployment (history
    newest first) that put this sha live on this color."""
    if live is None:
        return None
    for deployment in history:
        if (deployment.result == DeployResult.LIVE and deployment.sha == live.sha
                and deployment.color == live.color):
            switched = deployment.switched
            return deployment.finished if switched is None else switched  # older records
    return None


def live_since(names: list[str], lives: dict[str, LiveApp]) -> dict[str, float]:
    """`went_live` per project, reading further back than the newest deployment only where
    that one did not make the live version live (it failed, or was interrupted)."""
    store = services().store
    latest = store.deployments.latest_of(names)
    since: dict[str, float] = {}
    for name, live in lives.items():
        newest = latest.get(name)
        if newest is None:
            continue
        found = went_live(live, [newest])
        if found is None:
            found = went_live(live, store.deployments.history(name, limit=DEPLOYMENTS_KEPT))
        if found is not None:
            since[name] = found
    return since


@blueprint.get("/projects/<name>")
def project_page(name: str):
    store = services().store
    project_or_404(name)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    total = store.runs.count(name)
    runs = store.runs.list(name, limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE)
    recent = runs if page == 1 else store.runs.list(name, limit=RUNS_PER_PAGE)
    return render_template(
        "project.html", name=name, runs=runs, page=page,
        pages=max(1, -(-total // RUNS_PER_PAGE)), total=total, live=store.live.get(name),
        deployments=store.deployments.history(name, limit=20), chart=history_chart(recent),
        schedules=schedule_rows(name), processes=seen(name), backups=backup_rows(name),
        previews=[
            (p, preview_url(p.host, services().settings.proxy_https))
            for p in store.previews.of(name)], now=time.time())


@blueprint.get("/projects/<name>/processes")
def processes_fragment(name: str):
    """The Processes section alone: the project page swaps it in every few seconds."""
    return render_template("_processes.html", name=project_or_404(name),
                           processes=seen(name))


@dataclass(frozen=True)
class ScheduleRow:
    cron: str
    branch: str
    deploy: bool
    next: str  # the next firing, in UTC


def schedule_rows(name: str) -> list[ScheduleRow]:
    try:
        project = services().projects.load(name)
    except PushdockError:
        return []  # a broken or removed project file: its runs are still shown
    now = time.time()
    return [ScheduleRow(s.cron, s.branch, s.deploy, utc_text(next_slot(s.cron, now)))
            for s in project.schedules]


@dataclass(frozen=True)
class BackupRow:
    accessory: str
    every: str  # "every 24h", or "on demand"
    keep: int
    results: list[BackupResult]  # newest first
    files: list[BackupFile]  # on disk after the last backup, newest first


def backup_rows(name: str) -> list[BackupRow]:
    """The project's accessories that are backed up, with their last attempts."""
    try:
        project = services().projects.load(name)
    except PushdockError:
        return []
    records = services().store.backups
    return [BackupRow(a.name, f"every {every_text(a.backup.every)}" if a.backup.every
                      else "on demand", a.backup.keep, records.results(name, a.name, 5),
                      records.files(name, a.name))
            for a in project.accessories if a.backup is not None]


@blueprint.get("/runs/<run_id>")
def run_page(run_id: str) -> Response:
    store = services().store
    run = store.runs.get(run_id) if run_id.isdigit() else None
    if run is None:
        abort(404)
    total = store.logs.length(run_id)

    def log_lines() -> Iterator[tuple[str, str, Markup]]:
        # Fetched while the page streams: the head of the page is on its way meanwhile.
        entries, _ = store.logs.tail(run_id, LOG_LINES_ON_PAGE)
        for entry in entries:
            yield entry.id, entry.stage, ansi_to_html(entry.line)

    shown = min(total, LOG_LINES_ON_PAGE)
    preview = preview_link(store, run.project, run, https=services().settings.proxy_https)
    return Response(stream_with_context(stream_template(
        "run.html", run=run, log=log_lines(), log_total=total, log_shown=shown,
        preview=preview)))


@blueprint.get("/badge/<name>.svg")
def badge(name: str) -> Response:
    store = services().store
    if not is_project_name(name):
        abort(404)
    last = store.runs.latest_of([name]).get(name)
    message = last.status.value if last else "no runs"
    color = STATUS_COLORS.get(last.status, UNKNOWN_COLOR) if last else UNKNOWN_COLOR
    response = Response(badge_svg(name, message, color), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-cache, max-age=0"
    return response


# -- the buttons ------------------------------------------------------------------------------
def _back(default: str) -> str:
    target = request.form.get("next", default)
    return target if target.startswith("/") and not target.startswith("//") else default


@blueprint.post("/runs/<run_id>/cancel")
@require_write
def cancel_form(run_id: str):
    try:
        actions.cancel(services().store, run_id, "a user of the status page")
    except PushdockError as exc:
        return render_template("message.html", title="Cannot cancel", message=str(exc)), 409
    return redirect(_back(f"/runs/{run_id}"), code=303)


PAGE_USER = "a user of the status page"


@blueprint.post("/runs/<run_id>/approve")
@require_write
def approve_form(run_id: str):
    svc = services()
    try:
        run = svc.store.runs.get(run_id) if run_id.isdigit() else None
        if run is None:
            abort(404)
        approvals.approve(svc.store, svc.queue, run_id, PAGE_USER,
                          timeout=svc.projects.load(run.project).timeout)
    except PushdockError as exc:
        return render_template("message.html", title="Cannot approve", message=str(exc)), 409
    return redirect(f"/runs/{run_id}", code=303)


@blueprint.post("/runs/<run_id>/reject")
@require_write
def reject_form(run_id: str):
    try:
        approvals.reject(services().store, run_id, PAGE_USER)
    except PushdockError as exc:
        return render_template("message.html", title="Cannot reject", message=str(exc)), 409
    return redirect(f"/runs/{run_id}", code=303)


@blueprint.post("/runs/<run_id>/rerun")
@require_write
def rerun_form(run_id: str):
    svc = services()
    try:
        run = actions.rerun(svc.settings, svc.store, svc.queue, run_id)
    except PushdockError as exc:
        return render_template("message.html", title="Cannot rerun", message=str(exc)), 409
    return redirect(f"/runs/{run.id}", code=303)


def _commit_field(field: str) -> str | None:
    """A commit named in a form (a sha or a prefix of one); None when left empty."""
    value = request.form.get(field, "").strip().lower() or None
    if value is not None and not SHA_PREFIX.match(value):
        abort(400, description=f"{value!r} is not a commit sha")
    return value


@blueprint.post("/projects/<name>/rollback")
@require_write
def rollback_form(name: str):
    enqueue_rollback(services().queue, project_or_404(name), _commit_field("to"))
    return redirect(f"/projects/{name}?queued=rollback", code=303)


@blueprint.post("/projects/<name>/deploy")
@require_write
def deploy_form(name: str):
    enqueue_deploy(services().queue, project_or_404(name), _commit_field("sha"),
                   trigger="status page")
    return redirect(f"/projects/{name}?queued=deploy", code=303)

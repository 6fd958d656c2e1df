"""The JSON API, and the log as plain text or as server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, stream_with_context

from pipeline.errors import PushdockError, StoreUnavailable
from pipeline.model import Deployment, LiveApp, Run, Trigger
from pipeline.previews import preview_url
from webhooks.ansi import ansi_to_html, strip_ansi
from webhooks.auth import require_write
from webhooks.pages import SHA_PREFIX, project_names, project_or_404
from webhooks.processes import seen, seen_json
from webhooks.services import services
from workers import actions, approvals
from workers.queue import enqueue_deploy, enqueue_rollback

blueprint = Blueprint("api", __name__, url_prefix="/api")
SSE_BLOCK_MS = 2_000  # well under the client's 5 s socket timeout
MAX_PAGE = 200


def run_json(run: Run) -> dict[str, Any]:
    base = services().settings.base_url
    return {
        "id": run.id, "project": run.project, "branch": run.branch, "sha": run.sha,
        "short_sha": run.short_sha, "message": run.message, "author": run.author,
        "trigger": run.trigger, "status": run.status.value, "reason": run.reason,
        "stage": run.current_stage.value if run.current_stage else None,
        "created": run.created, "started": run.started, "finished": run.finished,
        "duration": run.duration, "url": f"{base}/runs/{run.id}",
        "approval": approval_json(run), "pr": pull_request_json(run),
        "stages": [{"name": s.name.value, "status": s.status.value, "started": s.started,
                    "finished": s.finished, "duration": s.duration} for s in run.stages],
    }


def pull_request_json(run: Run) -> dict[str, Any] | None:
    if run.pr is None:
        return None
    return {"number": run.pr.number, "title": run.pr.title,
            "source_branch": run.pr.source_branch, "fork": run.pr.fork, "ref": run.pr.ref}


def approval_json(run: Run) -> dict[str, Any] | None:
    approval = run.approval
    if approval is None:
        return None
    return {"next": approval.next.value, "reason": approval.reason, "since": approval.since,
            "decision": approval.decision.value if approval.decision else None,
            "by": approval.by, "at": approval.at}


def live_json(live: LiveApp | None) -> dict[str, Any] | None:
    if live is None:
        return None
    return {"color": live.color.value, "sha": live.sha, "run": live.run,
            "container": live.container}


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    data = asdict(deployment)
    data["color"] = deployment.color.value
    return data


@blueprint.errorhandler(StoreUnavailable)
def _store_down(_error: Exception):
    return jsonify(error="Redis is unavailable"), 503


@blueprint.errorhandler(404)
def _not_found(_error: Exception):
    return jsonify(error="not found"), 404


def _run_or_404(run_id: str) -> Run:
    run = services().store.runs.get(run_id) if run_id.isdigit() else None
    if run is None:
        abort(404)
    return run


def _page() -> tuple[int, int]:
    limit = min(max(request.args.get("limit", 25, type=int) or 25, 1), MAX_PAGE)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    return limit, offset


@blueprint.get("/projects")
def projects():
    store = services().store
    names = project_names()
    lives, last = store.live.many(names), store.runs.latest_of(names)
    return jsonify([{"name": name, "live": live_json(lives.get(name)),
                     "last_run": run_json(last[name]) if name in last else None}
                    for name in names])


@blueprint.get("/projects/<name>/runs")
def project_runs(name: str):
    store = services().store
    project_or_404(name)
    limit, offset = _page()
    return jsonify({"total": store.runs.count(name), "offset": offset, "limit": limit,
                    "runs": [run_json(r) for r in store.runs.list(name, limit, offset)]})


@blueprint.get("/projects/<name>/deployments")
def project_deployments(name: str):
    store = services().store
    project_or_404(name)
    return jsonify({"live": live_json(store.live.get(name)),
                    "deployments": [deployment_json(d)
                                    for d in store.deployments.history(name, 100)]})


@blueprint.get("/projects/<name>/processes")
def project_processes(name: str):
    """Each process of the live generation, its replicas and their states, and its last
    lines, as a worker last saw them (`seen`: when; `stale`: no worker looked lately)."""
    project_or_404(name)
    return jsonify({"project": name, **seen_json(seen(name))})


@blueprint.get("/projects/<name>/previews")
def project_previews(name: str):
    store = services().store
    project_or_404(name)
    https = services().settings.proxy_https
    previews = store.previews.of(name)
    live = store.live.many([p.app for p in previews])
    return jsonify({"previews": [
        {"number": p.number, "host": p.host, "url": preview_url(p.host, https),
         "sha": p.sha, "run": p.run, "created": p.created, "pushed": p.pushed,
         "live": live_json(live.get(p.app))} for p in previews]})


@blueprint.get("/runs/<run_id>")
def run_detail(run_id: str):
    return jsonify(run_json(_run_or_404(run_id)))


@blueprint.get("/runs/<run_id>/log")
def run_log(run_id: str) -> Response:
    store = services().store
    _run_or_404(run_id)
    if "text/event-stream" in request.headers.get("Accept", ""):
        after = request.headers.get("Last-Event-ID") or request.args.get("after", "0")
        response = Response(stream_with_context(_events(run_id, after)),
                            mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"  # proxies must not hold events back
        return response
    entries = store.logs.read(run_id, count=1_000_000)
    text = "".join(strip_ansi(entry.line) + "\n" for entry in entries)
    return Response(text, mimetype="text/plain")


def _event(kind: str, data: Any, entry_id: str | None = None) -> str:
    head = f"id: {entry_id}\n" if entry_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


def _events(run_id: str, after: str) -> Iterator[str]:
    """Log lines as they are written, status changes, and `end` when the run is over."""
    store = services().store
    yield "retry: 2000\n\n"
    last_state = None
    while True:
        entries = store.logs.wait(run_id, after, SSE_BLOCK_MS)
        for entry in entries:
            yield _event("line", {"stage": entry.stage, "html": str(ansi_to_html(entry.line))},
                         entry.id)
            after = entry.id
        run = store.runs.get(run_id)
        if run is None:
            return
        state = run_json(run)
        if state != last_state:
            yield _event("status", state)
            last_state = state
        if run.status.finished and not entries:
            yield _event("end", {"status": run.status.value})
            return


# -- write actions ----------------------------------------------------------------------------
@blueprint.post("/runs/<run_id>/cancel")
@require_write
def cancel(run_id: str):
    _run_or_404(run_id)
    try:
        run = actions.cancel(services().store, run_id, "an API call")
    except PushdockError as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(run_json(run)), 202


@blueprint.post("/runs/<run_id>/rerun")
@require_write
def rerun(run_id: str):
    svc = services()
    _run_or_404(run_id)
    try:
        run = actions.rerun(svc.settings, svc.store, svc.queue, run_id)
    except PushdockError as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(run_json(run)), 202


def _who_from_api() -> str:
    body = request.get_json(silent=True)
    by = body.get("by") if isinstance(body, dict) else None
    if isinstance(by, str) and by.strip():
        return f"{by.strip()[:64]} (API)"
    return "an API call"


@blueprint.post("/runs/<run_id>/approve")
@require_write
def approve(run_id: str):
    svc = services()
    run = _run_or_404(run_id)
    try:
        project = svc.projects.load(run.project)
        approved = approvals.approve(svc.store, svc.queue, run_id, _who_from_api(),
                                     timeout=project.timeout)
    except PushdockError as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(run_json(approved)), 202


@blueprint.post("/runs/<run_id>/reject")
@require_write
def reject(run_id: str):
    _run_or_404(run_id)
    try:
        rejected = approvals.reject(services().store, run_id, _who_from_api())
    except PushdockError as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(run_json(rejected)), 200


@blueprint.post("/projects/<name>/deploy")
@require_write
def deploy(name: str):
    project_or_404(name)
    body = request.get_json(silent=True) or {}
    sha = body.get("sha") if isinstance(body, dict) else None
    if sha is not None and (not isinstance(sha, str) or not SHA_PREFIX.match(sha)):
        return jsonify(error="sha must be a commit sha or a prefix of one"), 400
    job = enqueue_deploy(services().queue, name, sha, trigger=Trigger.API)
    return jsonify(project=name, job=job.id, sha=sha), 202


@blueprint.post("/projects/<name>/rollback")
@require_write
def rollback(name: str):
    project_or_404(name)
    body = request.get_json(silent=True) or {}
    to = body.get("to") if isinstance(body, dict) else None
    if to is not None and (not isinstance(to, str) or not SHA_PREFIX.match(to)):
        return jsonify(error="to must be a commit sha or a prefix of one"), 400
    job = enqueue_rollback(services().queue, name, to)
    return jsonify(project=name, job=job.id, to=to), 202


@blueprint.get("/projects/<name>/backups")
def project_backups(name: str):
    """Each backed-up accessory's schedule, last attempts and the files kept."""
    from webhooks.pages import backup_rows

    project_or_404(name)
    return jsonify([{"accessory": row.accessory, "every": row.every, "keep": row.keep,
                     "results": [r.to_json() for r in row.results],
                     "files": [asdict(f) for f in row.files]}
                    for row in backup_rows(name)])

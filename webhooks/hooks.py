"""POST /hooks/<project>: verify, parse, filter, deduplicate, record and queue a run."""

from __future__ import annotations

import re

import redis
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from pipeline.errors import ConfigError, StoreUnavailable, UnknownProject
from pipeline.model import PushEvent
from pipeline.projects import branch_matches, load_project
from pipeline.source import SHA
from webhooks.errors import WebhookError, WrongForge
from webhooks.forges import Ignored, detect_forge, forge_module
from webhooks.services import services
from workers.queue import submit_run

SKIP_CI = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)

blueprint = Blueprint("hooks", __name__)


def _answer(status: int, **body: object):
    return jsonify(body), status


@blueprint.post("/hooks/<project_name>")
def receive(project_name: str):
    svc = services()
    try:
        project = load_project(svc.settings.config_dir, project_name)
    except UnknownProject:
        return _answer(404, error=f"unknown project {project_name!r}")
    except ConfigError as exc:
        current_app.logger.error("project file of %s is invalid: %s", project_name, exc)
        return _answer(500, error=f"the project file of {project_name!r} is invalid; "
                                  "see the server log")
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _answer(413, error="body too large")

    forge = detect_forge(request.headers)
    try:
        if forge is None:
            raise WrongForge("no forge event header (X-GitHub-Event, X-Gitlab-Event, ...)")
        if forge is not project.forge:
            raise WrongForge(f"project {project.name} takes {project.forge.value} webhooks, "
                             f"this is {forge.value}")
        module = forge_module(forge)
        if module is None:
            raise WrongForge(f"{forge.value} webhooks are not supported by this version")
        module.verify(request.headers, body, project.webhook_secret)
        parsed = module.parse(request.headers, body, project.name)
    except WebhookError as exc:
        return _answer(exc.status, error=str(exc))
    if isinstance(parsed, Ignored):
        return _answer(200, ignored=parsed.reason)
    if not SHA.match(parsed.sha):
        return _answer(400, error=f"{parsed.sha!r} is not a commit sha")
    reason = ignore_reason(parsed, project.branches)
    if reason:
        return _answer(200, ignored=reason)

    try:
        if parsed.delivery_id and not svc.store.claim_delivery(project.name, parsed.delivery_id):
            return _answer(200, ignored="duplicate delivery")
        try:
            run = submit_run(svc.store, svc.queue, parsed, supersede=project.supersede,
                             timeout=project.timeout)
        except Exception:
            if parsed.delivery_id:  # let the forge's redelivery through
                svc.store.release_delivery(project.name, parsed.delivery_id)
            raise
    except (StoreUnavailable, redis.exceptions.RedisError):
        return _answer(503, error="Redis is unavailable; nothing was queued")
    return _answer(202, run=run.id, url=f"{svc.settings.base_url}/runs/{run.id}")


def ignore_reason(event: PushEvent, branches: tuple[str, ...]) -> str | None:
    if not branch_matches(branches, event.branch):
        return f"branch {event.branch} is not built ({', '.join(branches)})"
    if SKIP_CI.search(event.message):
        return "[skip ci] in the commit message"
    return None

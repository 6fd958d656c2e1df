"""POST /hooks/<project> and POST /hooks (organisation-wide): verify, parse, filter,
deduplicate, record and queue runs.

The signature is checked over the raw bytes before anything reads the body. Only a 202
answer has queued anything.
"""

from __future__ import annotations

import re
from dataclasses import replace

import redis
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from pipeline.config import Project
from pipeline.errors import ConfigError, StoreUnavailable, UnknownProject
from pipeline.model import ABBREVIATED_SHA, SHA, PullRequestClosed, PushEvent, Run
from pipeline.projects import branch_matches
from pipeline.repo_url import repo_matches
from webhooks.errors import BadSignature, MalformedPayload, WebhookError, WrongForge
from webhooks.forges import Ignored, detect_forge, forge_adapter
from webhooks.services import Services, services
from workers import pull_requests
from workers.queue import submit_run

SKIP_CI = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)
NO_FORGE = "no forge event header (X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, ...)"

blueprint = Blueprint("hooks", __name__)

Item = PushEvent | PullRequestClosed | Ignored
Parsed = list[tuple[Project, Item]]


def _answer(status: int, **body: object):
    return jsonify(body), status


class _TooLarge(Exception):
    pass


def _body() -> bytes:
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise _TooLarge() from None


def _too_large():
    limit = services().settings.max_body
    return _answer(413, error=f"body larger than {limit} bytes (PUSHDOCK_MAX_BODY)")


@blueprint.post("/hooks/<project_name>")
def receive(project_name: str):
    svc = services()
    try:
        project = svc.projects.load(project_name)
    except UnknownProject:
        return _answer(404, error=f"unknown project {project_name!r}")
    except ConfigError as exc:
        # The forge should redeliver once the file is fixed, so this is "unavailable".
        current_app.logger.error("project file of %s is invalid: %s", project_name, exc)
        return _answer(503, error=f"the project file of {project_name!r} is invalid; "
                                  "see the server log")
    try:
        body = _body()
    except _TooLarge:
        return _too_large()
    forge = detect_forge(request.headers)
    try:
        if forge is None:
            raise WrongForge(NO_FORGE)
        if forge is not project.forge:
            raise WrongForge(f"project {project.name} takes {project.forge.value} webhooks, "
                             f"this is {forge.value}")
        adapter = forge_adapter(forge)
        adapter.verify(request.headers, body, project.webhook_secret)
        parsed: Parsed = [(project, item)
                          for item in adapter.parse(request.headers, body, project.name)]
    except WebhookError as exc:
        return _answer(exc.status, error=str(exc))
    return _queue(svc, parsed)


@blueprint.post("/hooks")
def receive_any():
    """An organisation-wide webhook: the payload's repository picks the project(s).

    The secret that verifies the signature must be the one of a project that takes this
    forge's webhooks, and the repository named in the payload must be that project's `repo`.
    """
    svc = services()
    try:
        body = _body()
    except _TooLarge:
        return _too_large()
    forge = detect_forge(request.headers)
    if forge is None:
        return _answer(400, error=NO_FORGE)
    projects, errors = svc.projects.load_all()
    for error in errors:
        current_app.logger.error("project file skipped: %s", error)
    candidates = [project for project in projects if project.forge is forge]
    if not candidates:
        return _answer(404, error=f"no project takes {forge.value} webhooks")
    adapter = forge_adapter(forge)
    signed = []
    for project in candidates:
        try:
            adapter.verify(request.headers, body, project.webhook_secret)
        except BadSignature:
            continue
        signed.append(project)
    try:
        if not signed:
            raise BadSignature("the signature matches no project's webhook secret")
        items = adapter.parse(request.headers, body, "")
        if all(isinstance(item, Ignored) for item in items):
            return _queue(svc, [(signed[0], item) for item in items])
        names = adapter.repositories(body)
        matched = [project for project in signed if repo_matches(project.repo, names)]
        if not matched:
            named = names[0][:200] if names else "none named"
            return _answer(404, error=f"no project for this repository ({named})")
    except WebhookError as exc:
        return _answer(exc.status, error=str(exc))
    parsed: Parsed = [(project, replace(item, project=project.name)
                       if isinstance(item, PushEvent | PullRequestClosed) else item)
                      for project in matched for item in items]
    return _queue(svc, parsed)


def _queue(svc: Services, parsed: Parsed):
    ignored: list[str] = []
    wanted: list[tuple[Project, PushEvent]] = []
    closed: list[tuple[Project, PullRequestClosed]] = []
    for project, item in parsed:
        if isinstance(item, Ignored):
            ignored.append(item.reason)
        elif isinstance(item, PullRequestClosed):
            if project.pull_requests is None:
                ignored.append(pull_requests.PULL_REQUESTS_OFF)
            else:
                closed.append((project, item))
        elif not _names_a_commit(item):
            return _answer(400, error=str(MalformedPayload(f"{item.sha!r} is not a commit sha")))
        elif reason := ignore_reason(item, project):
            ignored.append(reason)
        else:
            wanted.append((project, item))
    try:
        runs = [run for project, event in wanted
                if (run := _submit(svc, project, event, ignored)) is not None]
        ended = [_close(svc, project, event, ignored) for project, event in closed]
    except (StoreUnavailable, redis.exceptions.RedisError):
        return _answer(503, error="Redis is unavailable; nothing was queued")
    if not runs:
        done = [each for each in ended if each is not None]
        if done:
            return _answer(200, closed="; ".join(text for text, _ in done),
                           cancelled=[run_id for _, ids in done for run_id in ids])
        return _answer(200, ignored="; ".join(dict.fromkeys(ignored)) or "nothing to run")
    base = svc.settings.base_url
    return _answer(202, run=runs[0].id, url=f"{base}/runs/{runs[0].id}",
                   runs=[run.id for run in runs])


def _names_a_commit(event: PushEvent) -> bool:
    # Only a pull request's head may come abbreviated: its checkout resolves it.
    return bool(SHA.match(event.sha) or (event.pr and ABBREVIATED_SHA.match(event.sha)))


def _submit(svc: Services, project: Project, event: PushEvent,
            ignored: list[str]) -> Run | None:
    """Queue one run of the event, unless its delivery was taken already."""
    # One delivery may push several refs (Bitbucket): each is claimed on its own, so a
    # redelivery after a partial failure queues only what is missing.
    claim = f"{event.delivery_id}:{event.ref or event.branch}"
    run_id = None
    if event.delivery_id:
        run_id = svc.store.deliveries.claim(project.name, claim)
        if run_id is None:
            ignored.append("duplicate delivery")
            return None
    head = f"head:{event.branch}:{event.sha}"
    if event.pr is not None and not svc.store.deliveries.first_time(project.name, head):
        ignored.append(f"pull request #{event.pr.number}: its head {event.sha[:7]} has run "
                       "already (updated without new commits)")
        return None
    try:
        if event.pr is not None:
            return pull_requests.submit_pull_request(svc.store, svc.queue, project, event,
                                                     run_id=run_id,
                                                     base_url=svc.settings.base_url)
        return submit_run(svc.store, svc.queue, event, run_id=run_id,
                          report_status=bool(project.status_token),
                          supersede=project.supersede, timeout=project.timeout)
    except Exception:
        if event.delivery_id:  # let the forge's redelivery through
            svc.store.deliveries.release(project.name, claim)
        if event.pr is not None:
            svc.store.deliveries.release(project.name, head)
        raise


def _close(svc: Services, project: Project, event: PullRequestClosed,
           ignored: list[str]) -> tuple[str, list[str]] | None:
    """End a closed pull request's runs; what was done, or None for a repeated delivery."""
    if event.delivery_id and not svc.store.deliveries.first_time(
            project.name, f"{event.delivery_id}:closed:{event.pr.number}"):
        ignored.append("duplicate delivery")
        return None
    cancelled = pull_requests.close_pull_request(svc.store, svc.queue, project, event)
    how = "merged" if event.merged else "closed"
    return f"pull request #{event.pr.number} {how}: nothing runs", cancelled


def ignore_reason(event: PushEvent, project: Project) -> str | None:
    if event.pr is not None:
        return pull_requests.ignore_reason(project, event.pr) or (
            "[skip ci] in the commit message" if SKIP_CI.search(event.message) else None)
    if event.is_tag:
        if not project.tags:
            return "tag"
    elif not branch_matches(project.branches, event.branch):
        return f"branch {event.branch} is not built ({', '.join(project.branches)})"
    if SKIP_CI.search(event.message):
        return "[skip ci] in the commit message"
    return None

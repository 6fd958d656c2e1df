"""Sending commit statuses to the forge (the requests come from pipeline/commit_status.py).

A status that cannot be reported is written to the run's log and never fails the run.
"""

from __future__ import annotations

from pipeline.commit_status import CommitState, StatusRequest, status_link, status_request
from pipeline.config import Project
from pipeline.errors import StatusReportFailed, StoreUnavailable
from pipeline.http_errors import error_detail, failure_reason
from pipeline.model import Run
from pipeline.previews import preview_url
from pipeline.reporting import Masker
from pipeline.store import Store

TIMEOUT = 5.0  # seconds; a slow forge must not hold a worker
LOG_STAGE = "status"


def send(request: StatusRequest, timeout: float = TIMEOUT) -> int:
    """Send the status; the HTTP status code, or StatusReportFailed.

    One request on a session of its own: a run's few reports are spread over the run and
    two jobs, so a kept-alive connection would seldom be used again. requests is imported
    here, not with the module: the web service imports this module (through the worker's
    jobs) and never sends.
    """
    import requests

    try:
        response = requests.request(request.method, request.url, json=request.body,
                                    headers=request.headers, timeout=timeout)
    except requests.RequestException as exc:
        raise StatusReportFailed(f"cannot reach {request.url}: {failure_reason(exc)}"
                                 ) from None
    if not response.ok:
        detail = error_detail(response, limit=300)
        raise StatusReportFailed(f"{request.url} answered {response.status_code}: {detail}")
    return response.status_code


def report(store: Store, project: Project, run_id: str, sha: str, state: CommitState,
           base_url: str, timeout: float = TIMEOUT, *, preview: str | None = None) -> bool:
    """Tell the project's forge this commit's state; True when the forge took it. `preview`:
    the link to the preview the run deployed."""
    link = status_link(f"{base_url}/runs/{run_id}", state, preview)
    request = status_request(project, sha, state, link.url, link.description)
    if request is None:
        return False
    mask = Masker([project.status_token])
    try:
        send(request, timeout)
    except StatusReportFailed as exc:
        _log(store, run_id, mask(f"could not report {state.value} to {project.forge.value}: "
                                 f"{exc}"))
        return False
    _log(store, run_id, f"reported {state.value} to {project.forge.value}")
    return True


def _log(store: Store, run_id: str, line: str) -> None:
    try:
        store.logs.append(run_id, line, stage=LOG_STAGE)
    except StoreUnavailable:
        pass  # the run's own reporting will meet the same outage and say so


def preview_link(store: Store, project: str, run: Run, *, https: bool) -> str | None:
    """The link to the preview this run deployed, while it is the preview's newest deploy."""
    if run.pr is None:
        return None
    found = store.previews.get(project, run.pr.number)
    return preview_url(found.host, https) if found and found.run == run.id else None

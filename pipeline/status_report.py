"""Sending commit statuses to the forge (the requests come from pipeline/commit_status.py).

A status that cannot be reported is written to the run's log and never fails the run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from pipeline.commit_status import CommitState, StatusRequest, status_request
from pipeline.errors import StatusReportFailed, StoreUnavailable
from pipeline.http_errors import error_detail
from pipeline.model import Project
from pipeline.reporting import Masker
from pipeline.store import Store

TIMEOUT = 5.0  # seconds; a slow forge must not hold a worker
LOG_STAGE = "status"


def send(request: StatusRequest, timeout: float = TIMEOUT) -> int:
    """POST the status; the HTTP status code, or StatusReportFailed."""
    http = urllib.request.Request(request.url, data=json.dumps(request.body).encode(),
                                  headers=request.headers, method=request.method)
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        detail = error_detail(exc, limit=300)
        raise StatusReportFailed(f"{request.url} answered {exc.code}: {detail}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StatusReportFailed(f"cannot reach {request.url}: {reason}") from None


def report(store: Store, project: Project, run_id: str, sha: str, state: CommitState,
           base_url: str, timeout: float = TIMEOUT) -> bool:
    """Tell the project's forge this commit's state; True when the forge took it."""
    request = status_request(project, sha, state, f"{base_url}/runs/{run_id}")
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

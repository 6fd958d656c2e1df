"""Commit statuses on the forge, as data: which request reports a run's state for a commit.

Each forge has its own endpoint, auth header and state names; this module only builds the
request (tested on data). pipeline/status_report.py sends it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pipeline.config import Project
from pipeline.model import Forge, RunStatus
from pipeline.repo_url import RepoLocation, locate

CONTEXT = "pushdock"  # the name the forge shows beside the commit


class CommitState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"


def state_of(status: RunStatus) -> CommitState:
    if status in (RunStatus.QUEUED, RunStatus.WAITING):
        return CommitState.PENDING
    if status is RunStatus.RUNNING:
        return CommitState.RUNNING
    return CommitState.SUCCESS if status is RunStatus.SUCCESS else CommitState.FAILURE


# Each forge's own word for a state; GitHub and Gitea have no "running", so it is pending there.
_STATES: dict[Forge, dict[CommitState, str]] = {
    Forge.GITHUB: {CommitState.PENDING: "pending", CommitState.RUNNING: "pending",
                   CommitState.SUCCESS: "success", CommitState.FAILURE: "failure"},
    Forge.GITEA: {CommitState.PENDING: "pending", CommitState.RUNNING: "pending",
                  CommitState.SUCCESS: "success", CommitState.FAILURE: "failure"},
    Forge.GITLAB: {CommitState.PENDING: "pending", CommitState.RUNNING: "running",
                   CommitState.SUCCESS: "success", CommitState.FAILURE: "failed"},
    Forge.BITBUCKET: {CommitState.PENDING: "INPROGRESS", CommitState.RUNNING: "INPROGRESS",
                      CommitState.SUCCESS: "SUCCESSFUL", CommitState.FAILURE: "FAILED"},
}

_DESCRIPTIONS = {
    CommitState.PENDING: "queued",
    CommitState.RUNNING: "running",
    CommitState.SUCCESS: "passed",
    CommitState.FAILURE: "failed",
}

# The API roots of the hosted forges; a self-hosted forge's is derived from the repo's host.
_HOSTED_API = {"github.com": "https://api.github.com", "bitbucket.org": "https://api.bitbucket.org/2.0",
               "gitlab.com": "https://gitlab.com/api/v4"}


@dataclass(frozen=True)
class StatusLink:
    """Where the forge's status of a commit links to, and what it says."""

    url: str
    description: str = ""


def status_link(run_url: str, state: CommitState, preview: str | None = None) -> StatusLink:
    """The run's page; once a pull request's run passed with its preview live, the preview
    itself (the run's page is a click away from there, on the status page)."""
    if preview and state is CommitState.SUCCESS:
        return StatusLink(preview, f"Pushdock: passed; preview at {preview}")
    return StatusLink(run_url)


@dataclass(frozen=True)
class StatusRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


def _repo_path(location: RepoLocation | None) -> str | None:
    # A local path or file:// URL names no forge, so no owner/repository on one either.
    if location is None or not location.host or location.path.count("/") < 1:
        return None
    return location.path


def status_target_problem(forge: Forge, repo: str) -> str | None:
    """Why statuses cannot be reported for this forge and repo URL, or None when they can."""
    if forge is Forge.GENERIC:
        return "a generic git server has no commit status API"
    location = locate(repo)
    if _repo_path(location) is None:
        return f'cannot tell the owner and repository from "{repo}"'
    if forge in (Forge.GITHUB, Forge.BITBUCKET) and location is not None \
            and location.path.count("/") != 1:
        return f'"{repo}" is not <owner>/<repository> on {forge.value}'
    return None


def api_base(project: Project) -> str:
    if project.status_api:
        return project.status_api.rstrip("/")
    location = locate(project.repo)
    assert location is not None
    hosted = _HOSTED_API.get(location.host)
    if hosted:
        return hosted
    base = location.web_base
    return {Forge.GITHUB: f"{base}/api/v3", Forge.GITLAB: f"{base}/api/v4",
            Forge.GITEA: f"{base}/api/v1", Forge.BITBUCKET: f"{base}/2.0"}[project.forge]


def status_request(project: Project, sha: str, state: CommitState, target_url: str,
                   description: str = "") -> StatusRequest | None:
    """The request that sets this commit's status on the project's forge (None: nowhere to)."""
    if not project.status_token or project.forge is Forge.GENERIC:
        return None
    path = _repo_path(locate(project.repo))
    if path is None:
        return None
    base = api_base(project)
    token = project.status_token
    word = _STATES[project.forge][state]
    description = (description or f"Pushdock: {_DESCRIPTIONS[state]}")[:140]
    json_type = {"Content-Type": "application/json"}
    if project.forge is Forge.GITHUB:
        return StatusRequest(
            "POST", f"{base}/repos/{path}/statuses/{sha}",
            {**json_type, "Accept": "application/vnd.github+json",
             "Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28"},
            {"state": word, "target_url": target_url, "description": description,
             "context": CONTEXT})
    if project.forge is Forge.GITEA:
        return StatusRequest(
            "POST", f"{base}/repos/{path}/statuses/{sha}",
            {**json_type, "Accept": "application/json", "Authorization": f"token {token}"},
            {"state": word, "target_url": target_url, "description": description,
             "context": CONTEXT})
    if project.forge is Forge.GITLAB:
        # GitLab takes the URL-encoded "namespace/project" path where the numeric id goes.
        return StatusRequest(
            "POST", f"{base}/projects/{quote(path, safe='')}/statuses/{sha}",
            {**json_type, "PRIVATE-TOKEN": token},
            {"state": word, "target_url": target_url, "description": description,
             "name": CONTEXT})
    # Bitbucket: a repository/workspace access token is a Bearer token; an app password is
    # given as "user:app-password" and sent as Basic auth.
    if ":" in token:
        auth = "Basic " + base64.b64encode(token.encode()).decode()
    else:
        auth = f"Bearer {token}"
    return StatusRequest(
        "POST", f"{base}/repositories/{path}/commit/{sha}/statuses/build",
        {**json_type, "Accept": "application/json", "Authorization": auth},
        {"key": CONTEXT, "state": word, "name": CONTEXT, "url": target_url,
         "description": description})

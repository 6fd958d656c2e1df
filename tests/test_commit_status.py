"""Commit status requests, per forge, as data."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from pipeline.commit_status import CommitState, api_base, state_of, status_request
from pipeline.config import Project
from pipeline.model import Forge, RunStatus

SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
LINK = "https://ci.example.com/runs/7"


def project(forge: str, repo: str, token: str = "tok", api: str = "") -> Project:
    return Project(name="shop", repo=repo, forge=Forge(forge), webhook_secret="s",
                   status_token=token, status_api=api)


def test_run_states() -> None:
    assert state_of(RunStatus.QUEUED) is CommitState.PENDING
    assert state_of(RunStatus.RUNNING) is CommitState.RUNNING
    assert state_of(RunStatus.SUCCESS) is CommitState.SUCCESS
    for status in (RunStatus.FAILED, RunStatus.ERROR, RunStatus.CANCELLED):
        assert state_of(status) is CommitState.FAILURE


def test_github() -> None:
    request = status_request(project("github", "https://github.com/acme/shop.git"), SHA,
                             CommitState.RUNNING, LINK)
    assert request is not None
    assert (request.method, request.url) == (
        "POST", f"https://api.github.com/repos/acme/shop/statuses/{SHA}")
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.body == {"state": "pending", "target_url": LINK,
                            "description": "Pushdock: running", "context": "pushdock"}


def test_github_enterprise_and_scp_urls() -> None:
    ghe = project("github", "git@github.acme.internal:acme/shop.git")
    assert api_base(ghe) == "https://github.acme.internal/api/v3"


def test_gitlab_encodes_the_project_path() -> None:
    request = status_request(project("gitlab", "https://gitlab.com/group/sub/shop.git"), SHA,
                             CommitState.FAILURE, LINK)
    assert request is not None
    assert request.url == f"https://gitlab.com/api/v4/projects/group%2Fsub%2Fshop/statuses/{SHA}"
    assert request.headers["PRIVATE-TOKEN"] == "tok" and "Authorization" not in request.headers
    assert request.body == {"state": "failed", "target_url": LINK,
                            "description": "Pushdock: failed", "name": "pushdock"}
    running = status_request(project("gitlab", "https://gitlab.example.com/a/b.git"), SHA,
                             CommitState.RUNNING, LINK)
    assert running is not None and running.body["state"] == "running"
    assert running.url.startswith("https://gitlab.example.com/api/v4/projects/a%2Fb/")


def test_gitea() -> None:
    request = status_request(project("gitea", "https://git.example.com:3000/acme/shop.git"),
                             SHA, CommitState.SUCCESS, LINK)
    assert request is not None
    assert request.url == f"https://git.example.com:3000/api/v1/repos/acme/shop/statuses/{SHA}"
    assert request.headers["Authorization"] == "token tok"
    assert request.body == {"state": "success", "target_url": LINK,
                            "description": "Pushdock: passed", "context": "pushdock"}


def test_bitbucket() -> None:
    request = status_request(project("bitbucket", "git@bitbucket.org:acme/shop.git"), SHA,
                             CommitState.PENDING, LINK)
    assert request is not None
    assert request.url == (
        f"https://api.bitbucket.org/2.0/repositories/acme/shop/commit/{SHA}/statuses/build")
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.body == {"key": "pushdock", "state": "INPROGRESS", "name": "pushdock",
                            "url": LINK, "description": "Pushdock: queued"}
    app_password = status_request(
        project("bitbucket", "https://bitbucket.org/acme/shop", token="me:pw"), SHA,
        CommitState.SUCCESS, LINK)
    assert app_password is not None and app_password.body["state"] == "SUCCESSFUL"
    assert app_password.headers["Authorization"] == (
        "Basic " + base64.b64encode(b"me:pw").decode())


@pytest.mark.parametrize(("forge", "path"), [
    ("github", "/repos/acme/shop/statuses/"), ("gitea", "/repos/acme/shop/statuses/"),
    ("gitlab", "/projects/acme%2Fshop/statuses/"),
    ("bitbucket", "/repositories/acme/shop/commit/")])
def test_status_api_overrides_the_base(forge: str, path: str) -> None:
    request = status_request(project(forge, "https://forge.test/acme/shop.git",
                                     api="http://127.0.0.1:9/api/"), SHA,
                             CommitState.SUCCESS, LINK)
    assert request is not None and request.url.startswith(f"http://127.0.0.1:9/api{path}")


def test_no_request_without_a_token_or_for_generic() -> None:
    github = project("github", "https://github.com/acme/shop.git")
    assert status_request(replace(github, status_token=""), SHA, CommitState.SUCCESS, LINK) is None
    assert status_request(project("generic", "https://git.test/acme/shop.git"), SHA,
                          CommitState.SUCCESS, LINK) is None

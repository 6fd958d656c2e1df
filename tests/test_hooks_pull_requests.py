"""Pull request webhooks through POST /hooks/<project>, with a real Redis: which of them run,
how runs of one pull request supersede each other, what a fork's run does under each
`forks:` policy, and what closing a pull request ends. The payloads are the recorded ones
(tests/fixtures/<forge>/pull_request*, merge_request*, pullrequest*)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rq import Queue

from pipeline.model import NotifyEvent, RunStatus, Trigger
from pipeline.notifications import Notice
from pipeline.settings import Settings
from pipeline.store import Store
from tests.test_hooks_forges import (  # noqa: F401
    PULL_REQUESTS,
    app_settings,
    client,
    post,
    queued,
    write_projects,
)
from workers.queue import QUEUE_NAME

# The recorded pull request events of each forge: opened, updated with new commits, closed,
# and from a fork.
EVENTS = {
    "github": ("pull_request_opened", "pull_request_synchronize", "pull_request_closed",
               "pull_request_fork"),
    "gitlab": ("merge_request_open", "merge_request_update", "merge_request_merge",
               "merge_request_fork"),
    "gitea": ("pull_request_opened", "pull_request_synchronized", "pull_request_closed",
              "pull_request_fork"),
    "bitbucket": ("pullrequest_created", "pullrequest_updated", "pullrequest_fulfilled",
                  "pullrequest_fork"),
}
FORGES = list(EVENTS)
NEWER = "0123456789abcdef0123456789abcdef01234567"


def _set(forge: str, *, number: int | None = None, sha: str | None = None
         ) -> Any:
    """An edit of a pull request payload: another number, another head commit."""

    def edit(payload: dict[str, Any]) -> None:
        if forge == "gitlab":
            attributes = payload["object_attributes"]
            if number is not None:
                attributes["iid"] = number
            if sha is not None:
                attributes["last_commit"]["id"] = sha
        elif forge == "bitbucket":
            if number is not None:
                payload["pullrequest"]["id"] = number
            if sha is not None:
                payload["pullrequest"]["source"]["commit"]["hash"] = sha[:12]
        else:
            if number is not None:
                payload["number"] = payload["pull_request"]["number"] = number
            if sha is not None:
                payload["pull_request"]["head"]["sha"] = sha

    return edit


@pytest.mark.parametrize("forge", FORGES)
def test_pull_requests_are_off_without_the_section(client, app_settings: Settings,  # noqa: F811
                                                   forge: str, redis_url: str) -> None:
    write_projects(app_settings, extra="")
    for name in EVENTS[forge][:3]:
        response = post(client, forge, name)
        assert (response.status_code, response.json) == (
            200, {"ignored": "pull requests are off"})
    assert queued(redis_url) == 0


@pytest.mark.parametrize("forge", FORGES)
def test_an_opened_pull_request_runs_its_head(client, forge: str, store: Store,  # noqa: F811
                                              redis_url: str) -> None:
    response = post(client, forge, EVENTS[forge][0])
    assert response.status_code == 202, response.json
    run = store.runs.get(response.json["run"])
    assert run is not None and run.status is RunStatus.QUEUED
    assert run.trigger == Trigger.PULL_REQUEST.value
    assert run.branch == "refs/pull/3/head"
    assert run.pr is not None and run.pr.number == 3 and not run.pr.fork
    assert (run.pr.title, run.pr.source_branch) == ("Add a wish list", "feature/wishlist")
    assert run.pr.ref == {"github": "refs/pull/3/head", "gitea": "refs/pull/3/head",
                          "gitlab": "refs/merge-requests/3/head",
                          "bitbucket": "refs/heads/feature/wishlist"}[forge]
    assert queued(redis_url) == 1


@pytest.mark.parametrize("forge", FORGES)
def test_an_update_supersedes_the_older_run_of_that_pull_request_only(
        client, forge: str, store: Store) -> None:  # noqa: F811
    opened, updated = EVENTS[forge][:2]
    first = post(client, forge, opened).json["run"]
    other = post(client, forge, opened, delivery="pr-4", edit=_set(forge, number=4)).json["run"]
    newer = post(client, forge, updated, edit=_set(forge, sha=NEWER))
    assert newer.status_code == 202, newer.json
    assert store.runs.get(first).status is RunStatus.SUPERSEDED  # type: ignore[union-attr]
    assert store.runs.get(first).reason == f"superseded by #{newer.json['run']}"  # type: ignore[union-attr]
    assert store.runs.get(other).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert store.runs.get(newer.json["run"]).sha.startswith(NEWER[:12])  # type: ignore[union-attr]


@pytest.mark.parametrize("forge", FORGES)
def test_an_update_without_new_commits_runs_nothing(client, forge: str, store: Store,  # noqa: F811
                                                    redis_url: str) -> None:
    opened, updated = EVENTS[forge][:2]
    assert post(client, forge, opened).status_code == 202
    again = post(client, forge, updated)  # the same head commit as the opened one
    assert again.status_code == 200
    assert "has run already (updated without new commits)" in again.json["ignored"]
    assert queued(redis_url) == 1


@pytest.mark.parametrize("forge", FORGES)
def test_a_repeated_pull_request_delivery_runs_once(client, forge: str,  # noqa: F811
                                                    redis_url: str) -> None:
    assert post(client, forge, EVENTS[forge][0]).status_code == 202
    again = post(client, forge, EVENTS[forge][0])
    assert (again.status_code, again.json) == (200, {"ignored": "duplicate delivery"})
    assert queued(redis_url) == 1


@pytest.mark.parametrize("forge", FORGES)
def test_closing_a_pull_request_ends_its_runs_and_runs_nothing(
        client, forge: str, store: Store, redis_url: str) -> None:  # noqa: F811
    opened, _, close, _ = EVENTS[forge]
    run = post(client, forge, opened).json["run"]
    other = post(client, forge, opened, delivery="pr-4", edit=_set(forge, number=4)).json["run"]
    response = post(client, forge, close)
    assert (response.status_code, response.json) == (
        200, {"closed": "pull request #3 merged: nothing runs", "cancelled": [run]})
    ended = store.runs.get(run)
    assert ended is not None and ended.status is RunStatus.CANCELLED
    assert ended.reason == "pull request #3 was merged"
    assert store.runs.get(other).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert [r.id for r in store.runs.list()] == [other, run]  # the close queued no run


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_forks_pull_request_waits_for_approval(client, forge: str, store: Store,  # noqa: F811
                                                 redis_url: str) -> None:
    response = post(client, forge, EVENTS[forge][3])
    assert response.status_code == 202
    run = store.runs.get(response.json["run"])
    assert run is not None and run.status is RunStatus.WAITING
    assert run.reason == "waiting for approval: pull request from a fork"
    assert run.approval is not None and run.approval.next.value == "run"
    assert run.pr is not None and run.pr.fork
    assert queued(redis_url) == 0  # nothing runs until a person approves it
    newer = post(client, forge, EVENTS[forge][3], delivery="again", edit=_set(forge, sha=NEWER))
    older = store.runs.get(run.id)
    assert older is not None and older.status is RunStatus.SUPERSEDED
    assert older.reason == f"superseded by #{newer.json['run']}"


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_forks_run_at_once_or_are_ignored_as_the_project_says(
        client, app_settings: Settings, forge: str, store: Store,  # noqa: F811
        redis_url: str) -> None:
    write_projects(app_settings, extra="pull_requests:\n  forks: run\n")
    response = post(client, forge, EVENTS[forge][3])
    assert response.status_code == 202
    assert store.runs.get(response.json["run"]).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert queued(redis_url) == 1
    write_projects(app_settings, extra="pull_requests:\n  forks: ignore\n")
    response = post(client, forge, EVENTS[forge][3], delivery="second")
    assert (response.status_code, response.json) == (
        200, {"ignored": "pull request from a fork (forks: ignore)"})
    # Not a fork's (nor the fork's head commit): runs whatever `forks` says.
    assert post(client, forge, EVENTS[forge][0], edit=_set(forge, sha=NEWER)).status_code == 202


def test_a_fork_is_told_by_repository_id_not_by_name(client, store: Store) -> None:  # noqa: F811
    def same_name_other_id(payload: dict[str, Any]) -> None:
        head = payload["pull_request"]["head"]["repo"]
        head.update({**payload["repository"], "id": head["id"] + 1})

    response = post(client, "github", "pull_request_opened", edit=same_name_other_id)
    run = store.runs.get(response.json["run"])
    assert run is not None and run.pr is not None and run.pr.fork
    assert run.status is RunStatus.WAITING

    def no_head_repo(payload: dict[str, Any]) -> None:  # a fork deleted since
        payload["pull_request"]["head"]["repo"] = None
        payload["pull_request"]["head"]["sha"] = NEWER

    response = post(client, "github", "pull_request_opened", edit=no_head_repo,
                    delivery="deleted-fork")
    run = store.runs.get(response.json["run"])
    assert run is not None and run.pr is not None and run.pr.fork


def test_a_pull_request_without_a_number_is_400(client) -> None:  # noqa: F811
    def no_number(payload: dict[str, Any]) -> None:
        del payload["number"]
        del payload["pull_request"]["number"]

    response = post(client, "github", "pull_request_opened", edit=no_number)
    assert response.status_code == 400
    assert "no number" in response.json["error"]


def test_a_bitbucket_branch_name_that_is_no_plain_ref_is_ignored(client) -> None:  # noqa: F811
    def odd_branch(payload: dict[str, Any]) -> None:
        payload["pullrequest"]["source"]["branch"]["name"] = "x:refs/heads/main"

    response = post(client, "bitbucket", "pullrequest_created", edit=odd_branch)
    assert response.status_code == 200
    assert "is not a plain branch name" in response.json["ignored"]


def test_a_fork_waiting_for_approval_is_notified_as_waiting(
        client, app_settings: Settings, store: Store, redis_url: str) -> None:  # noqa: F811
    write_projects(app_settings, PULL_REQUESTS + "notify:\n  - url: json://127.0.0.1:9/x\n"
                                                 "    on: [waiting]\n")
    response = post(client, "github", EVENTS["github"][3])
    assert response.status_code == 202
    [job] = Queue(QUEUE_NAME, connection=redis.Redis.from_url(redis_url)).get_jobs()
    assert job.func_name == "workers.notify.deliver"
    notice = Notice.from_job(job.args[2])
    assert notice.event is NotifyEvent.WAITING and notice.run == response.json["run"]
    assert notice.title.endswith("waiting for approval: pull request from a fork")
    assert notice.link == f"https://ci.example.com/runs/{response.json['run']}"

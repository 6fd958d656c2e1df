"""Previews as data: their hosts, and which go by the limit and by the expiry."""

from __future__ import annotations

from pipeline.previews import Preview, expired, over_limit, preview_host


def preview(number: int, created: float, pushed: float | None = None) -> Preview:
    return Preview(project="shop", number=number, host=f"pr-{number}.shop.test", sha="a" * 40,
                   run="1", created=created, pushed=created if pushed is None else pushed)


def test_the_host_gets_the_number() -> None:
    assert preview_host("pr-{number}.shop.example.com", 42) == "pr-42.shop.example.com"
    assert preview(3, 0).app == "shop--pr3"


def test_the_oldest_goes_when_a_new_one_would_pass_the_limit() -> None:
    live = [preview(7, 30.0), preview(2, 10.0), preview(5, 20.0)]
    assert [p.number for p in over_limit(live, 3, 9)] == [2]
    assert [p.number for p in over_limit(live, 2, 9)] == [2, 5]
    assert [p.number for p in over_limit(live, 1, 9)] == [2, 5, 7]
    assert over_limit(live, 4, 9) == []


def test_a_redeploy_never_removes_another_preview() -> None:
    live = [preview(7, 30.0), preview(2, 10.0), preview(5, 20.0)]
    assert over_limit(live, 3, 5) == []
    assert over_limit(live, 1, 5) == []  # the limit was lowered: new ones make room


def test_expired_counts_from_the_last_push() -> None:
    day = 86400.0
    live = [preview(1, 0.0, pushed=6 * day), preview(2, 0.0, pushed=1 * day),
            preview(3, 5 * day, pushed=8 * day)]
    now = 8 * day
    assert [p.number for p in expired(live, 7 * day, now)] == [2]
    assert [p.number for p in expired(live, 2 * day, now)] == [2, 1]
    assert expired(live, 8 * day, now) == []
    assert [p.number for p in expired(live, 3 * day, now + day)] == [2, 1]
    assert [p.number for p in expired(live, 3 * day, now + day - 1)] == [2]


def test_which_runs_deploy_a_preview() -> None:
    from dataclasses import replace

    from pipeline.config import PreviewSpec, Project, PullRequests
    from pipeline.model import Approval, ApprovalNext, Decision, PullRequest, Run, RunStatus
    from pipeline.previews import FORK_NOT_APPROVED, no_preview_reason, preview_spec

    spec = PreviewSpec(host="pr-{number}.shop.test")
    project = Project(name="shop", repo="/srv/shop.git", webhook_secret="s",
                      pull_requests=PullRequests(preview=spec))
    push = Run(id="1", project="shop", branch="main", sha="a" * 40, status=RunStatus.RUNNING,
               created=0.0)
    own = replace(push, pr=PullRequest(number=3))
    fork = replace(push, pr=PullRequest(number=4, fork=True))
    waited = Approval(next=ApprovalNext.RUN, reason="fork", since=0.0)
    assert preview_spec(project, push) is None and no_preview_reason(project, push) is None
    assert preview_spec(project, own) == spec and no_preview_reason(project, own) is None
    assert preview_spec(project, fork) is None
    assert no_preview_reason(project, fork) == FORK_NOT_APPROVED
    for decision in (Decision.REJECTED, Decision.EXPIRED, None):
        assert preview_spec(project, replace(fork, approval=replace(
            waited, decision=decision))) is None
    assert preview_spec(project, replace(fork, approval=replace(
        waited, decision=Decision.APPROVED))) == spec
    for off in (replace(project, pull_requests=None),
                replace(project, pull_requests=PullRequests())):
        assert preview_spec(off, own) is None and no_preview_reason(off, fork) is None

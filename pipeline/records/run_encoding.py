"""A run as the fields of its Redis hash. Each stage has fields of its own
(`stage:<name>:status|started|finished`), so a stage change writes two fields and reads
nothing; `stage_order` keeps their order. Runs written as one JSON `stages` field stay
readable, and an older Pushdock reads a new run as one without stages rather than failing."""

from __future__ import annotations

import json

from pipeline.model import (
    Approval,
    ApprovalNext,
    Decision,
    PullRequest,
    Run,
    RunStatus,
    StageName,
    StageRecord,
    StageStatus,
)

STATUS, STARTED, FINISHED = "status", "started", "finished"
ORDER = "stage_order"
NO_DEPLOY = "no_deploy"
# A run's approval: written when it starts to wait, completed by the decision.
APPROVAL_NEXT, APPROVAL_REASON = "approval_next", "approval_reason"
APPROVAL_SINCE = "approval_since"
DECISION, DECIDED_BY, DECIDED_AT = "decision", "decided_by", "decided_at"
# The pull request a run tests; none of these fields on a run of a push.
PR_NUMBER, PR_TITLE, PR_BRANCH, PR_FORK, PR_REF = (
    "pr_number", "pr_title", "pr_branch", "pr_fork", "pr_ref")
LEGACY_STAGES = "stages"  # one JSON list, as runs were written before; moved on first write


def stage_field(name: StageName, part: str) -> str:
    return f"stage:{name.value}:{part}"


def _time(value: float | None) -> str:
    return "" if value is None else repr(value)


def _optional_float(value: str | None) -> float | None:
    return float(value) if value else None


def encode_run(run: Run) -> dict[str, str]:
    fields = {
        "id": run.id, "project": run.project, "branch": run.branch, "sha": run.sha,
        "message": run.message, "author": run.author, "trigger": run.trigger,
        STATUS: run.status.value, "reason": run.reason, "created": repr(run.created),
        STARTED: _time(run.started), FINISHED: _time(run.finished),
        "delivery_id": run.delivery_id, NO_DEPLOY: "" if run.deploy else "1",
        ORDER: ",".join(stage.name.value for stage in run.stages),
    }
    for stage in run.stages:
        fields[stage_field(stage.name, STATUS)] = stage.status.value
        if stage.started is not None:
            fields[stage_field(stage.name, STARTED)] = repr(stage.started)
        if stage.finished is not None:
            fields[stage_field(stage.name, FINISHED)] = repr(stage.finished)
    if run.approval is not None:
        fields.update(approval_fields(run.approval))
    if run.pr is not None:
        fields.update({PR_NUMBER: str(run.pr.number), PR_TITLE: run.pr.title,
                       PR_BRANCH: run.pr.source_branch, PR_FORK: "1" if run.pr.fork else "",
                       PR_REF: run.pr.ref})
    return fields


def _pull_request(data: dict[str, str]) -> PullRequest | None:
    if not data.get(PR_NUMBER):
        return None
    return PullRequest(number=int(data[PR_NUMBER]), title=data.get(PR_TITLE, ""),
                       source_branch=data.get(PR_BRANCH, ""), fork=bool(data.get(PR_FORK)),
                       ref=data.get(PR_REF, ""))


def approval_fields(approval: Approval) -> dict[str, str]:
    return {APPROVAL_NEXT: approval.next.value, APPROVAL_REASON: approval.reason,
            APPROVAL_SINCE: repr(approval.since),
            DECISION: approval.decision.value if approval.decision else "",
            DECIDED_BY: approval.by, DECIDED_AT: _time(approval.at)}


def _approval(data: dict[str, str]) -> Approval | None:
    if not data.get(APPROVAL_NEXT):
        return None
    decision = data.get(DECISION)
    return Approval(ApprovalNext(data[APPROVAL_NEXT]), data.get(APPROVAL_REASON, ""),
                    float(data[APPROVAL_SINCE]), Decision(decision) if decision else None,
                    data.get(DECIDED_BY, ""), _optional_float(data.get(DECIDED_AT)))


def _stages(data: dict[str, str]) -> tuple[StageRecord, ...]:
    legacy = data.get(LEGACY_STAGES, "")
    if legacy.startswith("["):  # not written since the upgrade (see run_scripts.UPGRADE)
        return tuple(StageRecord(StageName(s["name"]), StageStatus(s["status"]), s["started"],
                                 s["finished"]) for s in json.loads(legacy))
    # Every stage written is in the order: SET_STAGE appends one the run was not created with.
    names = [StageName(name) for name in data.get(ORDER, "").split(",") if name]
    return tuple(
        StageRecord(name, StageStatus(data[stage_field(name, STATUS)]),
                    _optional_float(data.get(stage_field(name, STARTED))),
                    _optional_float(data.get(stage_field(name, FINISHED))))
        for name in names)


def decode_run(data: dict[str, str]) -> Run:
    return Run(
        id=data["id"], project=data["project"], branch=data["branch"], sha=data["sha"],
        message=data.get("message", ""), author=data.get("author", ""),
        trigger=data.get("trigger", "push"), status=RunStatus(data[STATUS]),
        reason=data.get("reason", ""), created=float(data["created"]),
        started=_optional_float(data.get(STARTED)),
        finished=_optional_float(data.get(FINISHED)),
        delivery_id=data.get("delivery_id", ""), stages=_stages(data),
        deploy=not data.get(NO_DEPLOY), approval=_approval(data), pr=_pull_request(data),
    )

"""The names of RQ jobs and workers (pure): one firing of a schedule, a backup or a run
gets the same job id in every process that asks, so RQ keeps it once."""

from __future__ import annotations

from pipeline.names import PREFIX


def run_job_id(run_id: str) -> str:
    return f"run-{run_id}"


def approved_run_job_id(run_id: str) -> str:
    """The job that takes a run on once a person approved it (its first job is done)."""
    return f"run-{run_id}-approved"


SCHEDULE_JOB = "schedule-"  # the start of every schedule firing's job id


def schedule_job_id(project: str, schedule: str, slot: int) -> str:
    """One firing of one schedule: the same for every process that schedules it."""
    return f"{SCHEDULE_JOB}{project}-{schedule}-{slot}"


def schedule_job_prefix(project: str, schedule: str = "") -> str:
    return f"{SCHEDULE_JOB}{project}-{schedule + '-' if schedule else ''}"


PREVIEW_EXPIRY_JOB = "preview-expiry-"  # + the slot: the same for every worker that asks


def preview_expiry_job_id(slot: int) -> str:
    return f"{PREVIEW_EXPIRY_JOB}{slot}"


def preview_removal_job_id(project: str, number: int) -> str:
    return f"preview-remove-{project}-{number}"


BACKUP_JOB = "backup_"  # the start of every scheduled backup's job id
# `_` is in no project or accessory name: one accessory's jobs are never taken for another's.


def backup_job_prefix(project: str, accessory: str, every: float) -> str:
    """The jobs of one accessory's schedule; a changed `every` is another schedule."""
    return f"{BACKUP_JOB}{project}_{accessory}_{round(every)}_"


def backup_job_id(project: str, accessory: str, every: float, slot: int) -> str:
    """One scheduled backup of one accessory: the same for every process that schedules it."""
    return f"{backup_job_prefix(project, accessory, every)}{slot}"


def status_job_id(run_id: str) -> str:
    return f"status-{run_id}"


def worker_prefix(hostname: str) -> str:
    """The start of the RQ names of the workers of one host (container)."""
    return f"{PREFIX}-{hostname}-"

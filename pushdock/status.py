"""`pushdock status [PROJECT]`: what is live, the deployment history, and the runs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pipeline.model import Deployment, DeployResult
from pipeline.settings import Settings
from pipeline.store import Store, connect
from pipeline.units import format_duration


def history_lines(deployments: Sequence[Deployment], *, verbose: bool) -> list[str]:
    """One line per deployment (newest first); with `verbose`, a failure's health log."""
    lines = []
    for d in deployments:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.started))
        switched = f"switched +{format_duration(d.switched - d.started)}" if d.switched else ""
        took = format_duration(d.finished - d.started) if d.finished else "…"
        lines.append(f"{d.sha[:7]} run #{d.run:<4} {d.trigger:<8} {when}  {switched:<17} "
                     f"{took:>7}  {d.result}" + (f": {d.reason}" if d.reason else ""))
        if verbose and d.result != DeployResult.LIVE:
            lines.extend(f"    {line}" for line in d.health[-12:])
    return lines


def app_lines(store: Store, name: str, *, limit: int, verbose: bool) -> list[str]:
    live = store.live.get(name)
    if live:
        lines = [f"{name}: live {live.color.value} {live.sha[:7]} (run #{live.run}) "
                 f"at {live.upstream}" + (f" for {live.host}" if live.host else "")]
    else:
        lines = [f"{name}: nothing live"]
    in_progress = store.deployments.in_progress(name)
    lines += [f"  {line}" for line in
              history_lines([in_progress] if in_progress else [], verbose=False)]
    lines += [f"  {line}" for line in
              history_lines(store.deployments.history(name, limit=limit), verbose=verbose)]
    return lines


def run_lines(store: Store, project: str | None, *, limit: int) -> list[str]:
    runs = store.runs.list(project, limit=limit)
    if not runs:
        return ["no runs yet"]
    lines = []
    for run in runs:
        took = format_duration(run.duration) if run.duration is not None else ""
        lines.append(f"#{run.id:<5} {run.project:<16} {run.short_sha} {run.status.value:<10} "
                     f"{took:>7}  {run.branch}  {(run.message.splitlines() or [''])[0][:50]}")
        if run.reason:
            lines.append(f"       {run.reason}")
    return lines


def status(settings: Settings, project: str | None, limit: int) -> int:
    assert settings.redis_url is not None  # the command line found it first
    store = Store(connect(settings.redis_url))
    projects = [project] if project else sorted(
        set(store.live.projects()) | set(store.deployments.projects()))
    for name in projects:
        for line in app_lines(store, name, limit=limit, verbose=bool(project)):
            print(line)
    for line in run_lines(store, project, limit=limit):
        print(line)
    return 0

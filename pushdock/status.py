"""`pushdock status [PROJECT]`: what is live, the deployment history, and the runs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pipeline.deploy.apps import Apps
from pipeline.deploy.members import live_containers, member_lines, sort_members
from pipeline.engine import connect_docker
from pipeline.errors import EngineUnavailable, PushdockError
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


def app_lines(store: Store, name: str, *, limit: int, verbose: bool,
              apps: Apps | None = None) -> list[str]:
    """`apps`: the engine's app containers, to show each process of the live generation."""
    live = store.live.get(name)
    if live:
        lines = [f"{name}: live {live.color.value} {live.sha[:7]} (run #{live.run}) "
                 f"at {live.upstream}" + (f" for {live.host}" if live.host else "")]
        if apps is not None:
            members = sort_members(live_containers(apps, live))
            lines += [f"  {line}" for line in member_lines(members)]
    else:
        lines = [f"{name}: nothing live"]
    in_progress = store.deployments.in_progress(name)
    lines += [f"  {line}" for line in
              history_lines([in_progress] if in_progress else [], verbose=False)]
    lines += [f"  {line}" for line in
              history_lines(store.deployments.history(name, limit=limit), verbose=verbose)]
    return lines


def accessory_lines(settings: Settings, apps: Apps | None, name: str) -> list[str]:
    """Each accessory the project file declares, as the engine has it."""
    from pipeline.deploy.accessories import Accessories
    from pipeline.projects import load_project
    from pipeline.reporting import Silent

    try:
        project = load_project(settings.config_dir, name)
    except PushdockError:
        return []  # a project without a file any more, or a broken one (`pushdock check`)
    if apps is None or not project.accessories:
        return []
    try:
        states = Accessories(apps.docker, Silent()).states(name, project.accessories)
    except PushdockError as exc:
        return [f"  accessories: {exc}"]
    return [f"  accessory {state.name}: {state.status} ({state.image})"
            + ("" if state.current or state.status == "missing" else
               f"; its definition changed: `pushdock accessory {name} {state.name} restart` "
               "applies it") for state in states]


def _apps(settings: Settings) -> Apps | None:
    """The engine's app containers; None (and the processes not shown) without an engine."""
    try:
        return Apps(connect_docker(timeout=10), settings.apps_network)
    except EngineUnavailable:
        return None


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
    apps = _apps(settings) if projects else None
    for name in projects:
        for line in app_lines(store, name, limit=limit, verbose=bool(project), apps=apps):
            print(line)
        for line in accessory_lines(settings, apps, name):
            print(line)
    for line in run_lines(store, project, limit=limit):
        print(line)
    return 0

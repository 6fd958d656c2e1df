"""`pushdock previews PROJECT` and `pushdock preview PROJECT N remove`: the pull request
previews that are live, and removing one by hand."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from pipeline.previews import Preview
from pipeline.settings import Settings
from pipeline.store import Store
from pushdock.output import say

Handler = Callable[[Settings, argparse.Namespace], int]
Add = Callable[..., argparse.ArgumentParser]


def preview_lines(previews: Sequence[Preview], live_shas: dict[str, str], now: float
                  ) -> list[str]:
    """One line per preview, oldest first: number, host, the sha that serves, age and the
    time since its last push."""
    from pipeline.units import format_duration

    if not previews:
        return []
    lines = [f"{'#':<6} {'host':<40} {'sha':<8} {'age':<8} pushed"]
    for p in previews:
        sha = live_shas.get(p.app, "")[:7] or "-"
        lines.append(f"#{p.number:<5} {p.host:<40} {sha:<8} "
                     f"{format_duration(now - p.created):<8} "
                     f"{format_duration(now - p.pushed)} ago")
    return lines


def cmd_previews(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.store import connect

    assert settings.redis_url is not None  # the command line found it first
    store = Store(connect(settings.redis_url))
    previews = store.previews.of(args.project)
    live = store.live.many([p.app for p in previews])
    lines = preview_lines(previews, {app: each.sha for app, each in live.items()}, time.time())
    if not lines:
        _known(settings, args.project)
        say(f"{args.project}: no previews")
    for line in lines:
        print(line)
    return 0


def _known(settings: Settings, project: str) -> None:
    """UnknownProject for a project with no file, where a typo would read as "no previews"."""
    from pipeline.errors import ConfigError, UnknownProject
    from pipeline.projects import load_project

    try:
        load_project(settings.config_dir, project)
    except UnknownProject:
        raise
    except ConfigError:
        pass  # a broken file still names the project (`pushdock check` says what is wrong)


def cmd_preview_remove(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.errors import ConfigError
    from workers.previews import remove_preview

    removed = remove_preview(settings, args.project, args.number, say=say)
    if removed is None:
        _known(settings, args.project)
        raise ConfigError(f"{args.project} has no preview of pull request #{args.number}")
    say(f"{args.project}: the preview of #{args.number} is removed")
    return 0


HANDLERS: frozenset[Handler] = frozenset({cmd_previews, cmd_preview_remove})  # need Redis


def add_preview_commands(add: Add, sub: argparse._SubParsersAction[argparse.ArgumentParser]
                         ) -> None:
    previews = add(sub, "previews", cmd_previews, "the live previews of a project's pull "
                   "requests (number, host, sha, age)")
    previews.add_argument("project")
    preview = add(sub, "preview", cmd_preview_remove, "act on one pull request's preview")
    preview.add_argument("project")
    preview.add_argument("number", type=int, help="the pull request's number")
    preview.add_argument("action", choices=["remove"],
                         help="remove: everything the preview made (containers, volumes, "
                              "route, images)")

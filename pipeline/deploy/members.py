"""The live generation's containers as they run: their states for `pushdock status` and the
status page, and their output for `pushdock logs` (DESIGN.md §9.2)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from itertools import groupby

import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline.deploy.apps import Apps, member_order, process_of
from pipeline.deploy.process_view import Member
from pipeline.model import LiveApp
from pipeline.names import LABEL_SHA, replica_of_labels


def member_of(container: Container) -> Member:
    state = container.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status") or ""
    return Member(process=process_of(container), replica=replica_of_labels(container.labels),
                  name=container.name, state=str(state.get("Status", "unknown")),
                  restarts=int(container.attrs.get("RestartCount") or 0),
                  sha=container.labels.get(LABEL_SHA, ""), health=str(health))


def live_containers(apps: Apps, live: LiveApp | None) -> list[Container]:
    """The containers of the generation the live record names, web replicas first."""
    if live is None:
        return []
    first = apps.get(live.container)
    return apps.generation(live.project, first) if first is not None else []


def member_lines(members: Iterable[Member]) -> list[str]:
    """One line per process: its replicas and their states (pure)."""
    lines = []
    for process, group in groupby(members, key=lambda member: member.process):
        replicas = list(group)
        states = ", ".join(f"{m.label} {m.state}" + _details(m) for m in replicas)
        lines.append(f"{process}: {len(replicas)} replica{'s' * (len(replicas) != 1)} — "
                     f"{states}")
    return lines


def _details(member: Member) -> str:
    """The image's health check's answer and the restarts, when there are any."""
    details = [member.health] if member.health else []
    details += [f"{member.restarts} restarts"] if member.restarts else []
    return f" ({', '.join(details)})" if details else ""


def sort_members(containers: Iterable[Container]) -> list[Member]:
    return [member_of(c) for c in sorted(containers, key=member_order)]


def stream_logs(containers: list[Container], emit: Callable[[str], None], *, tail: int,
                follow: bool) -> None:
    """Each container's output, each line prefixed with its process and replica; with
    `follow`, until every container's stream ends (or the caller is interrupted)."""
    if not follow:
        for container in sorted(containers, key=member_order):
            label = member_of(container).label
            for line in _logs(container, tail):
                emit(f"{label} | {line}")
        return
    lines: queue.Queue[str | None] = queue.Queue()
    for container in containers:
        threading.Thread(target=_follow, args=(container, tail, lines), daemon=True,
                         name=f"logs-{container.name}").start()
    ended = 0
    while ended < len(containers):
        line = lines.get()
        if line is None:
            ended += 1
        else:
            emit(line)


def _logs(container: Container, tail: int, *, timestamps: bool = False) -> list[str]:
    try:
        data = container.logs(tail=tail, timestamps=timestamps)
    except (APIError, NotFound, requests.RequestException):
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def stamped_outputs(containers: Iterable[Container], tail: int) -> dict[str, list[str]]:
    """Each container's last `tail` lines, each led by the engine's timestamp, by the
    member's label (web.2)."""
    return {member_of(c).label: _logs(c, tail, timestamps=True) for c in containers}


def _follow(container: Container, tail: int, lines: queue.Queue[str | None]) -> None:
    label = member_of(container).label
    buffer = ""
    try:
        for chunk in container.logs(stream=True, follow=True, tail=tail):
            buffer += chunk.decode("utf-8", errors="replace")
            *whole, buffer = buffer.split("\n")
            for line in whole:
                lines.put(f"{label} | {line}")
    except (APIError, NotFound, requests.RequestException):
        pass  # the container went away
    finally:
        if buffer:
            lines.put(f"{label} | {buffer}")
        lines.put(None)

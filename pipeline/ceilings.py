"""The most a repository may ask for (trusted, from the environment): a `.pushdock.yml`
whose steps, services or app ask for more CPUs, memory or processes is a config error at
the line that asks, naming the ceiling."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import PipelineSpec, Resources
from pipeline.units import size_text
from pipeline.yamldoc import Path, YamlDoc


@dataclass(frozen=True)
class Ceilings:
    cpus: float
    memory: int  # bytes
    pids: int


def check_ceilings(doc: YamlDoc, spec: PipelineSpec, ceilings: Ceilings) -> None:
    # Steps and services run under test.resources; the app under deploy.resources.
    places: tuple[tuple[Path, Resources], ...] = (
        (("test", "resources"), spec.test.resources),
        (("deploy", "resources"), spec.deploy.resources),
        *((("deploy", "processes", process.name, "resources"), process.resources)
          for process in spec.deploy.processes))
    for path, asked in places:
        for name, value, ceiling, setting, show in (
                ("cpus", asked.cpus, ceilings.cpus, "PUSHDOCK_MAX_CPUS", _number),
                ("memory", asked.memory, ceilings.memory, "PUSHDOCK_MAX_MEMORY", size_text),
                ("pids", asked.pids, ceilings.pids, "PUSHDOCK_MAX_PIDS", _number)):
            if value > ceiling:
                raise doc.error((*path, name), f"{show(value)} is more than this server "
                                f"allows ({setting}={show(ceiling)})")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"

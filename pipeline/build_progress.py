"""BuildKit's plain progress, read line by line: which instruction each `#N` line belongs
to, and what failed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.reporting import Reporter

# "#5 [2/3] RUN make": the first line of vertex 5 names it; later "#5 ..." lines are its.
_VERTEX = re.compile(r"^#(\d+) (.*)$")
_STAGE_PREFIX = re.compile(r"^\[[^\]]*\d+/\d+\] ")
# The engine's words for a RUN that exited non-zero (20.10, and BuildKit since 0.10).
_EXIT = re.compile(r"(?:executor failed running \[.*\]|process \".*\" did not complete "
                   r"successfully): (exit code: \d+)$")
# How shells and runtimes say that fork() failed with EAGAIN: the process limit was hit.
_CANNOT_FORK = re.compile(r"can(?:no|')t fork|fork(?: failed)?: (?:retry: )?Resource "
                          r"temporarily unavailable|BlockingIOError|pthread_create failed",
                          re.IGNORECASE)
_KILLED = "exit code: 137"  # SIGKILL: in a build step, the kernel's OOM killer


@dataclass(frozen=True)
class BuildFailure:
    instruction: str  # the Dockerfile instruction that failed, "" when none did
    message: str
    killed: bool = False  # the failed step was killed (SIGKILL)
    cannot_fork: bool = False  # the failed step's output says a fork failed


def instruction_of(vertex_name: str) -> str:
    """`RUN make` from `[2/3] RUN make` or `[builder 2/3] RUN make`."""
    return _STAGE_PREFIX.sub("", vertex_name)


class ProgressReader:
    """Passes the build's lines on, keeping the name of every vertex and the failure."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.names: dict[str, str] = {}
        self.failed_vertex = ""
        self.vertex_error = ""
        self.last_error = ""  # a failure outside any vertex: a Dockerfile it cannot parse
        self.last_line = ""
        self.forkless: set[str] = set()  # vertices whose output says a fork failed

    def log(self, line: str) -> None:
        self.reporter.log(line)
        if line.strip():
            self.last_line = line.strip()
        vertex = _VERTEX.match(line)
        if vertex:
            number, rest = vertex.groups()
            if number not in self.names:
                self.names[number] = rest
            elif rest.startswith("ERROR: "):
                if not self.failed_vertex:
                    self.failed_vertex = number
                    self.vertex_error = rest.removeprefix("ERROR: ").strip()
            elif _CANNOT_FORK.search(rest):
                self.forkless.add(number)
        elif line.lower().startswith("error: "):
            self.last_error = line[len("error: "):].strip()

    def failure(self) -> BuildFailure:
        if self.failed_vertex:
            message = self.vertex_error
            exited = _EXIT.search(message)
            code = exited.group(1) if exited else message
            return BuildFailure(instruction_of(self.names.get(self.failed_vertex, "")), code,
                                killed=code == _KILLED,
                                cannot_fork=self.failed_vertex in self.forkless)
        return BuildFailure("", self.last_error or self.last_line or "no output")

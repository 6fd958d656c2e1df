"""Cache mounts of a repository's Dockerfile, kept to that project and that trust.

BuildKit keeps a `RUN --mount=type=cache` by its `id` (the target when none is given) for
every build on the engine: one project's build, or a fork's pull request, could otherwise
fill `/root/.cache/pip` with what the next trusted build installs. So the build gets a copy
of the Dockerfile whose cache ids carry a scope: the project, and whether the run is
trusted. Every `--mount=` of every instruction is rewritten (a word in a RUN's command
that only looks like one is rewritten too: better than one missed), after the lines an
instruction continues over are joined, as BuildKit joins them.

A `# syntax=` frontend other than Docker's own would read the Dockerfile its own way, so
it is refused, as is the BUILDKIT_SYNTAX build argument that does the same.
"""

from __future__ import annotations

import csv
import io
import re

from pipeline.errors import BuildError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_OWN_FRONTEND = re.compile(r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?"
                           r"(?::[\w][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$")
_MOUNT = re.compile(r"(--mount=)(\S+)")
FRONTEND_ARG = "BUILDKIT_SYNTAX"


def scope_dockerfile(text: str, scope: str) -> str:
    """The Dockerfile with each cache mount's id put under `scope`; line numbers kept."""
    lines = text.split("\n")
    escape = _directives(lines)
    out: list[str] = []
    index = 0
    while index < len(lines):
        logical, used = _logical_line(lines, index, escape)
        out.append(_MOUNT.sub(lambda match: match.group(1) + _scoped(match.group(2), scope),
                              logical))
        out.extend([""] * (used - 1))  # the lines it spanned: later line numbers stay
        index += used
    return "\n".join(out)


def _directives(lines: list[str]) -> str:
    """Checks the parser directives at the top; returns the escape character."""
    escape = "\\"
    for line in lines:
        directive = _DIRECTIVE.match(line.strip())
        if not directive:
            break
        name, value = directive.group(1).lower(), directive.group(2)
        if name == "syntax" and not _OWN_FRONTEND.match(value):
            raise BuildError(f"`# syntax={value}`: only Docker's own Dockerfile frontend "
                             "(docker/dockerfile) is allowed")
        if name == "escape" and value in ("\\", "`"):
            escape = value
    return escape


def _logical_line(lines: list[str], start: int, escape: str) -> tuple[str, int]:
    """One instruction over the lines it continues on, and how many lines it took."""
    parts: list[str] = []
    index = start
    while index < len(lines):
        line = lines[index]
        index += 1
        if parts and line.lstrip().startswith("#"):
            continue  # a comment inside an instruction is no part of it
        stripped = line.rstrip()
        # A comment of its own (not inside an instruction, skipped above) never continues.
        if stripped.endswith(escape) and not line.lstrip().startswith("#"):
            parts.append(stripped[:-1])
            continue
        parts.append(line)
        break
    return "".join(parts), index - start


def _scoped(spec: str, scope: str) -> str:
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error:
        return spec  # BuildKit refuses what it cannot read either
    options = [(key.strip().lower(), value.strip())
               for key, _, value in (field.partition("=") for field in fields)]
    if ("type", "cache") not in [(key, value.lower()) for key, value in options]:
        return spec
    target = next((value for key, value in options
                   if key in ("target", "dst", "destination")), "")
    own = next((value for key, value in options if key == "id"), "") or target
    kept = [field for field, (key, _) in zip(fields, options, strict=True) if key != "id"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([*kept, f"id={scope}/{own}"])
    return buffer.getvalue()


def check_build_args(args: dict[str, str]) -> None:
    if any(name.upper() == FRONTEND_ARG for name in args):
        raise BuildError(f"build.args: {FRONTEND_ARG} is not allowed (it picks the "
                         "Dockerfile frontend)")

"""docker build of a run's workspace with BuildKit, streamed into the run log.

The build runs as the `docker` CLI (see docker_cli for why), from an argument list and
never through a shell, in a process group of its own so that stopping it stops all of it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.build_bounds import BuildGuard
from pipeline.build_progress import ProgressReader
from pipeline.cache_mounts import check_build_args, scope_dockerfile
from pipeline.config import BuildSpec
from pipeline.docker_cli import docker_cli
from pipeline.errors import BuildError
from pipeline.names import cache_scope, image_labels, image_tag
from pipeline.reporting import LineSplitter, Reporter
from pipeline.units import duration_text, size_text

_POLL = 0.5  # seconds between looks at a stop while the build prints nothing
_GRACE = 5.0  # seconds the CLI has to cancel the build on the engine before it is killed
MAX_DOCKERFILE = 1024 * 1024  # bytes; a Dockerfile is read whole to scope its cache mounts


@dataclass(frozen=True)
class BuildCommand:
    """The CLI's arguments and environment (pure, so it is tested on data)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    tag: str


def build_command(spec: BuildSpec, workspace: Path, project: str, sha: str, *,
                  cli: str = "docker", base_env: dict[str, str] | None = None,
                  secret_files: Mapping[str, Path] | None = None,
                  dockerfile: Path | None = None,
                  pull_request: int | None = None) -> BuildCommand:
    """`dockerfile`: the file to build instead of the repository's (its scoped copy);
    `pull_request`: the number of the pull request it builds, whose images are named apart."""
    # Like compose: the Dockerfile path is relative to the context.
    context = workspace / spec.context
    tag = image_tag(project, sha, pull_request)
    argv = [cli, "build", "--progress=plain", "--file",
            str(dockerfile or context / spec.dockerfile), "--tag", tag]
    for name, value in image_labels(project, sha, pull_request).items():
        argv += ["--label", f"{name}={value}"]
    for name, value in spec.args.items():
        argv += ["--build-arg", f"{name}={value}"]
    if spec.target:
        argv += ["--target", spec.target]
    # A secret goes by file: never in the arguments (`ps` shows them) nor the environment.
    for name, path in (secret_files or {}).items():
        argv += ["--secret", f"id={name},src={path}"]
    argv.append(str(context))
    env = dict(os.environ if base_env is None else base_env)
    env.update(DOCKER_BUILDKIT="1", BUILDKIT_PROGRESS="plain", DOCKER_CLI_HINTS="false")
    return BuildCommand(tuple(argv), env, tag)


def check_paths(spec: BuildSpec, workspace: Path) -> None:
    workspace = workspace.resolve()
    context = (workspace / spec.context).resolve()
    if not context.is_relative_to(workspace) or not context.is_dir():
        raise BuildError(f"build context {spec.context!r} is not a directory in the repository")
    dockerfile = context / spec.dockerfile
    if not dockerfile.resolve().is_relative_to(workspace) or not dockerfile.is_file():
        raise BuildError(f"no {spec.dockerfile} in the repository")


@contextmanager
def secret_files(names: tuple[str, ...], secrets: Mapping[str, str]
                 ) -> Iterator[dict[str, Path]]:
    """Each named secret in a file only its owner reads, removed when the build ends."""
    missing = [name for name in names if name not in secrets]
    if missing:
        raise BuildError(f"build.secrets: {', '.join(missing)} "
                         f"{'is not a secret' if len(missing) == 1 else 'are not secrets'} "
                         "of the project (its project file's `secrets`)")
    if not names:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="pushdock-build-secrets-") as folder:
        files = {}
        for name in names:
            path = Path(folder) / name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets[name])
            files[name] = path
        yield files


def build_image(spec: BuildSpec, workspace: Path, project: str, sha: str, reporter: Reporter,
                check: Callable[[], None] = lambda: None, *,
                secrets: Mapping[str, str] | None = None,
                guard: BuildGuard | None = None, scope: str | None = None,
                pull_request: int | None = None) -> str:
    """Build and tag the image; `check` is called at least every half second (and between
    output lines) and stops the build by raising. `secrets` are the project's: those
    `spec.secrets` names are mounted for the build's RUNs. `guard` holds the build steps'
    memory and processes: no build starts unless its bounds are in place. `scope` keeps
    cache mounts apart (names.cache_scope; the project's trusted runs by default)."""
    check_paths(spec, workspace)
    progress = ProgressReader(reporter)
    check_build_args(spec.args)
    scoped = scope_dockerfile(_read_dockerfile(spec, workspace), scope or cache_scope(project))
    if guard is not None:
        guard.ensure()
    mark = guard.mark() if guard is not None else 0
    with secret_files(spec.secrets, secrets or {}) as files, \
            tempfile.TemporaryDirectory(prefix="pushdock-dockerfile-") as folder:
        dockerfile = Path(folder) / "Dockerfile"
        dockerfile.write_text(scoped)
        command = build_command(spec, workspace.resolve(), project, sha, cli=docker_cli(),
                                secret_files=files, dockerfile=dockerfile,
                                pull_request=pull_request)
        reporter.log(f"building {command.tag}")
        code = _run(command, LineSplitter(progress), check, spec.timeout)
    if code != 0:
        failure = progress.failure()
        where = f" at `{failure.instruction}`" if failure.instruction else ""
        bounds = guard.explain(mark, killed=failure.killed,
                               cannot_fork=failure.cannot_fork) if guard else None
        raise BuildError(f"{bounds}{where}" if bounds else
                         f"docker build failed{where}: {failure.message}")
    return command.tag


def _read_dockerfile(spec: BuildSpec, workspace: Path) -> str:
    path = workspace / spec.context / spec.dockerfile
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCKERFILE + 1)
        if len(data) > MAX_DOCKERFILE:
            raise BuildError(f"{spec.dockerfile} is larger than {size_text(MAX_DOCKERFILE)}")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{spec.dockerfile} cannot be read: {exc}") from exc


def _run(command: BuildCommand, lines: LineSplitter, check: Callable[[], None],
         timeout: float) -> int:
    process = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    chunks: queue.Queue[bytes | None] = queue.Queue()
    reader = threading.Thread(target=_read, args=(process, chunks), name="build-output",
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                chunk = chunks.get(timeout=_POLL)
            except queue.Empty:
                chunk = b""
            # Between lines and while it is silent alike: a chatty build has its deadline too.
            check()
            if time.monotonic() > deadline:
                raise BuildError(f"build timed out after {duration_text(timeout)}")
            if chunk is None:
                break
            lines.feed(chunk.decode("utf-8", errors="replace"))
        lines.flush()
        return process.wait()
    finally:
        _stop(process)
        reader.join(timeout=_GRACE)


def _read(process: subprocess.Popen[bytes], chunks: queue.Queue[bytes | None]) -> None:
    assert process.stdout is not None
    # At most 64 KiB at once: a line without end must not be held whole.
    for line in iter(lambda: process.stdout.readline(65536), b""):
        chunks.put(line)
    chunks.put(None)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the CLI and all it started: on SIGTERM it cancels the build on the engine."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, _GRACE), (signal.SIGKILL, _GRACE)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue

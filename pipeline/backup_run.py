"""Taking a backup (a command's stdout, inside the accessory's container, written to a file
atomically) and restoring one (a file piped into a command's stdin there).

Both commands come from the project file, which is trusted: they run as the image would run
them, through `sh -c` inside the container. A backup is written to a hidden file in the same
directory, synced and given its name only once the command has exited 0: a failed, partial
or timed-out backup leaves no file and never touches an earlier one."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.utils.socket import STDERR, STDOUT, frames_iter

from pipeline.backups import TEMP_PREFIX, backup_name
from pipeline.engine import ContainerState
from pipeline.errors import BackupFailed
from pipeline.names import accessory_container

CHUNK = 1 << 16
_ERROR_TAIL = 2000  # characters of the command's stderr kept for the reason
_EXIT_WAIT = 10.0  # seconds the engine may take to report an ended command's exit code

Progress = Callable[[int], None]  # bytes written or sent so far


@dataclass(frozen=True)
class Written:
    path: Path
    size: int


@dataclass(frozen=True)
class _Ended:
    exit_code: int | None
    stderr: str
    timed_out: bool = False
    error: str = ""


def take_backup(container: Container, command: str, folder: Path, ext: str, *,
                timeout: float, started: float | None = None,
                progress: Progress | None = None) -> Written:
    """Run `command` in `container` and keep its stdout as the next backup in `folder`.
    Raises BackupFailed (and nothing is written) when it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time() if started is None else started
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _check(_exec(container, command, out=out, progress=progress, timeout=timeout),
                   timeout)
            out.flush()
            os.fsync(out.fileno())
        size = temp.stat().st_size
        return Written(_publish(temp, folder, started, ext), size)
    finally:
        with suppress(FileNotFoundError):
            temp.unlink()


def restore_backup(container: Container, command: str, source: IO[bytes], *,
                   timeout: float, progress: Progress | None = None) -> str:
    """Pipe `source` into `command`'s stdin in `container`; its output when it exits 0.
    Raises BackupFailed otherwise."""
    output = bytearray()

    class _Collect:
        def write(self, data: bytes) -> None:
            output.extend(data)
            del output[:-_ERROR_TAIL * 4]

    ended = _exec(container, command, out=_Collect(), source=source, progress=progress,
                  timeout=timeout)
    _check(ended, timeout)
    return output.decode(errors="replace")


def running_accessory(client: docker.DockerClient, project: str, accessory: str) -> Container:
    """The accessory's container, when it runs; BackupFailed saying how to start it else."""
    start = f"(pushdock accessory {project} {accessory} start)"
    try:
        container = client.containers.get(accessory_container(project, accessory))
    except docker.errors.NotFound:
        raise BackupFailed(f"accessory {accessory} of {project} is not running {start}") from None
    except docker.errors.APIError as exc:
        raise BackupFailed(f"the engine refused: {exc.explanation or exc}") from exc
    if container.status != ContainerState.RUNNING:
        raise BackupFailed(f"accessory {accessory} of {project} is {container.status}, not "
                           f"running {start}")
    return container


def _publish(temp: Path, folder: Path, started: float, ext: str) -> Path:
    """Give the finished file its name: a hard link never replaces a file that is there
    (a second backup within the same second gets the next number)."""
    for seq in range(100):
        final = folder / backup_name(started, ext, seq)
        try:
            os.link(temp, final)
        except FileExistsError:
            continue
        _sync_dir(folder)
        return final
    raise BackupFailed(f"{folder}: 100 backups within one second")


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(ended: _Ended, timeout: float) -> None:
    if ended.timed_out:
        raise BackupFailed(f"did not finish within {timeout:g}s")
    if ended.error:
        raise BackupFailed(ended.error)
    if ended.exit_code is None:
        raise BackupFailed("the engine did not say how the command ended")
    if ended.exit_code != 0:
        tail = ended.stderr.strip().splitlines()[-3:]
        said = f": {' / '.join(tail)}" if tail else ""
        raise BackupFailed(f"exited with {ended.exit_code}{said}")


def _exec(container: Container, command: str, *, out: Any, timeout: float,
          source: IO[bytes] | None = None, progress: Progress | None = None) -> _Ended:
    """Run `command` with its stdout into `out` (and `source` into its stdin), within
    `timeout`. Engine errors are reported in the result, never raised."""
    api = container.client.api
    try:
        exec_id = api.exec_create(container.id, ["sh", "-c", command], stdin=source is not None,
                                  stdout=True, stderr=True)["Id"]
        raw = api.exec_start(exec_id, socket=True)
    except docker.errors.APIError as exc:
        return _Ended(None, "", error=f"the engine refused: {exc.explanation or exc}")
    sock: socket.socket = getattr(raw, "_sock", raw)
    reader = _Reader(sock, out, None if source is not None else progress)
    thread = threading.Thread(target=reader.run, name="backup-output", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    unread = ""  # why the command did not take all of `source`
    try:
        if source is not None:
            sock.settimeout(timeout)  # a command that never reads must not hold us
            unread = _feed(sock, source, progress)
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return _Ended(None, reader.stderr_text(), timed_out=True)
    except TimeoutError:
        return _Ended(None, reader.stderr_text(), timed_out=True)
    finally:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        thread.join(5.0)
    if reader.error:
        return _Ended(None, reader.stderr_text(), error=reader.error)
    code = _exit_code(api, exec_id)
    # A command that failed says more by its exit than by the input it left unread.
    return _Ended(code, reader.stderr_text(), error=unread if code == 0 else "")


def _feed(sock: socket.socket, source: IO[bytes], progress: Progress | None) -> str:
    """Send `source` as the command's stdin, then its end; why not all of it was taken."""
    sent = 0
    try:
        while chunk := source.read(CHUNK):
            sock.sendall(chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent)
        sock.shutdown(socket.SHUT_WR)  # the end of the file is the end of its stdin
    except TimeoutError:
        raise
    except OSError as exc:
        return f"it stopped reading its input after {sent} bytes ({exc.strerror or exc})"
    return ""


def _exit_code(api: Any, exec_id: str) -> int | None:
    deadline = time.monotonic() + _EXIT_WAIT
    while True:
        state = api.exec_inspect(exec_id)
        if not state.get("Running") or time.monotonic() > deadline:
            return state.get("ExitCode")
        time.sleep(0.05)  # the stream ended; the engine records the exit a moment later


class _Reader:
    """Drains the command's multiplexed output: stdout to `out`, stderr's tail kept."""

    def __init__(self, sock: socket.socket, out: Any, progress: Progress | None) -> None:
        self.sock, self.out, self.progress = sock, out, progress
        self.stderr = bytearray()
        self.error = ""

    def run(self) -> None:
        written = 0
        try:
            for stream, data in frames_iter(self.sock, tty=False):
                if stream == STDOUT:
                    try:
                        self.out.write(data)
                    except OSError as exc:
                        self.error = f"could not write the backup: {exc}"
                        return
                    written += len(data)
                    if self.progress is not None:
                        self.progress(written)
                elif stream == STDERR:
                    self.stderr.extend(data)
                    del self.stderr[:-_ERROR_TAIL]
        except OSError as exc:  # also how a timed-out command's stream is cut
            self.error = f"the engine's stream broke: {exc}"

    def stderr_text(self) -> str:
        return self.stderr.decode(errors="replace")

"""The whole product: `pushdock up`, a signed GitHub push over HTTP, the real worker, engine,
Caddy and Redis — first deploy, blue/green swap, a failing test that deploys nothing, the
status pages, and a Ctrl-C that leaves no process behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model import RunStatus
from pipeline.store import Store, connect
from tests.support import SampleRepo, free_port, github_push, log_lines, project_file, wait_for

SECRET = "e2e-secret"


class Pushdock:
    def __init__(self, root: Path, apps_network: str) -> None:
        self.root = root
        self.bind = f"127.0.0.1:{free_port()}"
        self.proxy = f"127.0.0.1:{free_port()}"
        self.admin = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            "PUSHDOCK_CONFIG_DIR": str(root / "pipelines.d"),
            "PUSHDOCK_DATA_DIR": str(root / "var"),
            "PUSHDOCK_CADDY_ADMIN": self.admin,
            "PUSHDOCK_PROXY_LISTEN": self.proxy,
            "PUSHDOCK_BIND": self.bind,
            "PUSHDOCK_APPS_NETWORK": apps_network,
            "PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{free_port()}",
            "E2E_SECRET": SECRET,
        }
        self.env.pop("PUSHDOCK_REDIS_URL", None)
        self.output = open(root / "up.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pushdock", "up"], env=self.env, stdout=self.output,
            stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return (self.root / "up.log").read_text()

    def url(self, path: str) -> str:
        return f"http://{self.bind}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.url(path), data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def served(self, host: str) -> str:
        request = urllib.request.Request(f"http://{self.proxy}/", headers={"Host": host})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode().strip()

    def store(self) -> Store:
        return Store(connect(f"unix://{self.root / 'var' / 'redis' / 'redis.sock'}"))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command in another terminal: the same settings, no PUSHDOCK_REDIS_URL."""
        return subprocess.run([sys.executable, "-m", "pushdock", *args], env=self.env,
                              capture_output=True, text=True, timeout=180)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.output.close()


@pytest.fixture
def pushdock(apps_network: str) -> Iterator[Pushdock]:
    # A short root: the embedded Redis listens on a unix socket inside it.
    root = Path(tempfile.mkdtemp(prefix="pd-e2e-"))
    instance = Pushdock(root, apps_network)
    try:
        wait_for(lambda: instance.get("/healthz")[0] == 200 or instance.process.poll() is not None,
                 timeout=60, what="pushdock up")
        assert instance.process.poll() is None, instance.log()
        yield instance
    finally:
        # Ctrl-C first: its children run in sessions of their own, which a kill of its
        # process group would leave running after a failed test.
        if instance.process.poll() is None:
            try:
                instance.stop()
            except subprocess.TimeoutExpired:
                os.killpg(instance.process.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def answered(pushdock: Pushdock, host: str) -> str | None:
    try:
        return pushdock.served(host)
    except (OSError, urllib.error.URLError):
        return None


def child_pids(log: str) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", log)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (from /proc, no procps needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_push_build_test_deploy_swap_and_stop(pushdock: Pushdock, base_image: str,
                                              project_name: str, docker_client,
                                              sample_repo: SampleRepo) -> None:
    host = f"{project_name}.localhost"
    project_file(pushdock.root / "pipelines.d", project_name, sample_repo.path,
                 secret_var="E2E_SECRET", host=host)
    store = pushdock.store()

    def push(version: str, message: str) -> str:
        sha = sample_repo.commit(version, message)
        body, headers = github_push(SECRET, sha, message=message)
        status, answer = pushdock.post(f"/hooks/{project_name}", body, headers)
        assert status == 202, answer
        run_id = re.search(r'"run":\s*"(\d+)"', answer).group(1)  # type: ignore[union-attr]

        def finished() -> bool:
            run = store.runs.get(run_id)
            return run is not None and run.status.finished

        wait_for(finished, timeout=120, what=f"run {run_id}")
        return run_id

    def app_containers() -> list:
        return docker_client.containers.list(
            all=True, filters={"label": [f"pushdock.project={project_name}",
                                         "pushdock.role=app"]})

    # 3. first push: checkout → build → test → deploy, served through Caddy by host
    first = push("v1", "First version")
    run = store.runs.get(first)
    assert run is not None and run.status is RunStatus.SUCCESS, run
    assert [(s.name.value, s.status.value) for s in run.stages] == [
        ("checkout", "success"), ("config", "success"), ("build", "success"),
        ("test", "success"), ("deploy", "success")]
    assert pushdock.served(host) == "v1"
    first_log = log_lines(store, first)
    assert "tests pass" in first_log

    # 4. a changed app swaps blue → green; one app container remains
    second = push("v2", "Second version")
    assert store.runs.get(second).status is RunStatus.SUCCESS  # type: ignore[union-attr]
    assert pushdock.served(host) == "v2"
    [green] = app_containers()
    assert green.name == f"pushdock-{project_name}-green"
    assert green.labels["pushdock.run"] == second

    # 5. a failing test step deploys nothing; v2 keeps serving
    third = push("broken", "Break it")
    broken = store.runs.get(third)
    assert broken is not None and broken.status is RunStatus.FAILED
    assert broken.reason == "step unit failed with exit code 1"
    assert [s.status.value for s in broken.stages][-2:] == ["failed", "pending"]
    assert pushdock.served(host) == "v2"
    assert [c.name for c in app_containers()] == [green.name]

    # commands in another terminal, with the same settings, find the embedded Redis
    status_out = pushdock.cli("status", project_name)
    assert status_out.returncode == 0, status_out.stderr
    assert f"{project_name}: live green" in status_out.stdout
    assert f"#{third}" in status_out.stdout and "step unit failed" in status_out.stdout
    second_up = pushdock.cli("up")
    assert second_up.returncode == 1
    assert second_up.stderr.startswith(
        f"pushdock: error: a Pushdock is running with its data in {pushdock.root / 'var'} "
        "already")
    assert pushdock.cli("status").returncode == 0  # the first one is untouched
    cancelled = pushdock.cli("cancel", third)
    assert cancelled.returncode == 1
    assert cancelled.stderr.strip() == (f"pushdock: error: run #{third} has already finished "
                                        "(failed)")
    back = pushdock.cli("rollback", project_name)
    assert back.returncode == 0, back.stderr
    assert f"{project_name}: rolled back to {run.sha[:7]} (blue)" in back.stdout
    assert pushdock.served(host) == "v1"
    again = pushdock.cli("deploy", project_name, "--sha", store.runs.get(second).sha[:7])  # type: ignore[union-attr]
    assert again.returncode == 0, again.stderr
    assert pushdock.served(host) == "v2"
    [green] = app_containers()

    # 6. the status pages
    status, index = pushdock.get("/")
    assert status == 200
    for run_id, message, word in ((first, "First version", "success"),
                                  (third, "Break it", "failed")):
        sha = store.runs.get(run_id).sha  # type: ignore[union-attr]
        row = index[index.index(f'data-run="{run_id}"'):]
        row = row[:row.index("</tr>")]
        assert sha[:7] in row and message in row and f">{word}<" in row
    status, page = pushdock.get(f"/runs/{third}")
    assert status == 200
    assert "step unit failed with exit code 1" in page
    # The build's own log is on the page: BuildKit's last step names the image.
    assert f"naming to docker.io/library/{project_name}:{broken.sha} done" in page
    assert pushdock.get("/runs/12345")[0] == 404

    # a worker that dies is replaced
    pids = child_pids(pushdock.log())
    assert set(pids) == {"redis-server", "caddy", "resolver", "web", "worker-1"}
    os.kill(pids["worker-1"], signal.SIGKILL)
    wait_for(lambda: "worker-1 exited (code -9); starting it again" in pushdock.log(),
             timeout=30, what="the worker to be restarted")
    wait_for(lambda: len(re.findall(r"started worker-1 \(pid", pushdock.log())) == 2,
             timeout=30, what="the new worker")
    assert pushdock.process.poll() is None

    # so is the resolver, and the app is served through the new one
    os.kill(pids["resolver"], signal.SIGKILL)
    wait_for(lambda: "resolver exited (code -9); starting it again" in pushdock.log(),
             timeout=30, what="the resolver to be restarted")
    wait_for(lambda: len(re.findall(r"started resolver \(pid", pushdock.log())) == 2,
             timeout=30, what="the new resolver")
    wait_for(lambda: answered(pushdock, host) == "v2", timeout=15,
             what="the app served through the new resolver")

    # Ctrl-C stops everything it started
    pids = child_pids(pushdock.log())
    assert pushdock.stop() == 0
    gone = pushdock.cli("status")
    assert gone.returncode == 1
    assert gone.stderr.strip() == (
        f"pushdock: error: no Pushdock is running with its data in {pushdock.root / 'var'} "
        "(start one with `pushdock up`, or set PUSHDOCK_DATA_DIR to its data directory) and "
        "PUSHDOCK_REDIS_URL is not set")
    wait_for(lambda: not any(alive(pid) for pid in pids.values()), timeout=15,
             what="children to exit")
    assert processes_mentioning(str(pushdock.root)) == []

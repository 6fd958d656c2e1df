"""The production stack (docker-compose.yml) run for real by the compose tool, for the tests:
stand-ins for the public images, the Pushdock image from the wheelhouse, one compose project
per test module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.support import free_port, missing

ROOT = Path(__file__).resolve().parents[1]
STANDIN_PREFIX = "pushdock-standin"
STANDIN_TAG = "bookworm"
TOKEN = "compose-token"  # PUSHDOCK_TOKEN in the stack's env file
STANDINS = {role: f"{STANDIN_PREFIX}/{role}:{STANDIN_TAG}"
            for role in ("redis", "caddy", "python", "postgres")}
# The public name script/standins gives the PostgreSQL stand-in too: project files say it.
POSTGRES = "postgres:15"


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 600,
        cwd: Path = ROOT) -> str:
    """Run a command; its output in the failure message when it fails."""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def ensure_standins(client: Any) -> dict[str, str]:
    """The stand-in images, built once per machine by script/standins and kept after."""
    from docker.errors import ImageNotFound

    absent = []
    for image in [*STANDINS.values(), POSTGRES]:
        try:
            client.images.get(image)
        except ImageNotFound:
            absent.append(image)
    if absent:
        if os.geteuid() != 0 or shutil.which("debootstrap") is None:
            missing(f"{', '.join(absent)} missing; building them needs root and debootstrap "
                    "(script/bootstrap installs it)")
        run([str(ROOT / "script" / "standins")], timeout=1800)
    return dict(STANDINS)


def build_pushdock_image(tag: str, base: str) -> str:
    run([str(ROOT / "script" / "wheelhouse")], timeout=600)
    run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, "."],
        timeout=900)
    return tag


BUILD_PIDS = 1000  # not the default (1024): the stack's own setting is seen to hold


class Stack:
    """One compose project of the stack, on free high ports, with its own names."""

    def __init__(self, image: str, standins: dict[str, str], secret: str) -> None:
        compose = shutil.which("docker-compose")
        if compose is None:
            missing("docker-compose is not installed (Debian package docker-compose; "
                    "script/bootstrap installs it)")
        self.compose = compose
        suffix = uuid.uuid4().hex[:8]
        self.name = f"pdcompose{suffix}"
        self.apps_network = f"pushdock-compose-{suffix}"
        # A short world-readable root: the worker (user pushdock) reads the repo mounted here.
        self.root = Path(tempfile.mkdtemp(prefix="pd-compose-"))
        self.root.chmod(0o755)
        self.pipelines = self.root / "pipelines.d"
        self.pipelines.mkdir()
        # The projects' repositories, one directory mounted into the worker.
        self.repos = self.root / "repos"
        self.repos.mkdir()
        self.repo = self.repos / "app"
        self.web_port, self.http_port = free_port(), free_port()
        env_file = self.root / "pushdock.env"
        # Build bounds of the stack's own (the service build-bounds sets them on this host).
        env_file.write_text(f"PUSHDOCK_TOKEN={TOKEN}\nCOMPOSE_SECRET={secret}\n"
                            f"PUSHDOCK_BUILD_PIDS={BUILD_PIDS}\n")
        # The repos' paths inside the worker are the same as here: the project files name them.
        override = self.root / "override.yml"
        override.write_text(json.dumps({"services": {"worker": {"volumes": [
            f"{self.repos}:{self.repos}:ro"]}}}))
        self.files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(override)]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PUSHDOCK_")}
        self.env = {
            **clean,
            "PUSHDOCK_IMAGE": image,
            "PUSHDOCK_BASE_IMAGE": standins["python"],
            "PUSHDOCK_REDIS_IMAGE": standins["redis"],
            "PUSHDOCK_CADDY_IMAGE": standins["caddy"],
            "PUSHDOCK_ENV_FILE": str(env_file),
            "PUSHDOCK_PIPELINES": str(self.pipelines),
            "PUSHDOCK_WEB_PORT": str(self.web_port),
            "PUSHDOCK_HTTP_PORT": str(self.http_port),
            "PUSHDOCK_HTTPS_PORT": str(free_port()),
            "PUSHDOCK_APPS_NETWORK": self.apps_network,
            "PUSHDOCK_DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        }

    @property
    def argv(self) -> list[str]:
        """The compose command of this stack, as `docker compose` is in the README."""
        return [self.compose, "-p", self.name, *self.files]

    def __call__(self, *args: str, timeout: float = 300) -> str:
        return run([*self.argv, *args], env=self.env, timeout=timeout)

    def redis_cli(self, *args: str) -> str:
        return self("exec", "-T", "redis", "redis-cli", *args).strip()

    # -- HTTP to the published ports ----------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.web_port}{path}", data=body,
                                         headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def api(self, path: str) -> Any:
        status, text = self.request("GET", path)
        return json.loads(text) if status == 200 else None

    def served(self, host: str) -> tuple[int, str]:
        """The app behind Caddy's published port for this Host: (status, body)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/",
                                         headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode().strip()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError as exc:
            return 0, str(exc)

    def logs(self) -> str:
        try:
            return self("logs", "--no-color", "--tail", "60", timeout=60)
        except AssertionError as exc:
            return str(exc)

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", timeout=300)
        shutil.rmtree(self.root, ignore_errors=True)

"""Fixtures for the real parts: Redis, the Docker engine, Caddy, git repos, test images."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipeline.settings import Settings
from pipeline.store import Store, connect
from tests.support import (
    BASE_IMAGE,
    CADDY_BINARIES,
    DB_APP,
    SampleRepo,
    caddy_binary,
    free_port,
    missing,
    pings,
    wait_for,
)


# -- Redis ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (script/bootstrap installs it)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="pushdock-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_for(lambda: pings(client), timeout=10, what="redis-server")
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def resolver_server(redis_server: str) -> Iterator[str]:
    """`pushdock resolver` on the session's Redis; its listen address (HOST:PORT)."""

    from pipeline.deploy.resolver import answers

    port = free_port()
    env = {**os.environ, "PUSHDOCK_REDIS_URL": redis_server,
           "PUSHDOCK_RESOLVER_LISTEN": f"127.0.0.1:{port}"}
    process = subprocess.Popen([sys.executable, "-m", "pushdock", "resolver"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: answers("127.0.0.1", port), timeout=15, what="pushdock resolver")
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture
def store(redis_url: str) -> Store:
    return Store(connect(redis_url))


# -- Docker ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def docker_client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        missing(f"no Docker engine answers ({exc}); script/bootstrap starts dockerd")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> Iterator[str]:
    """FROM scratch + Debian's static busybox (sh, httpd, wget): no registry needed."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        missing("/bin/busybox is missing (Debian package busybox-static)")
    context = Path(tempfile.mkdtemp(prefix="pushdock-base-"))
    shutil.copy(busybox, context / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'RUN ["/bin/sh", "-c", "mkdir -p /tmp /etc && chmod 1777 /tmp && '
        'echo root:x:0:0:root:/root:/bin/sh > /etc/passwd"]\n')
    docker_client.images.build(path=str(context), tag=BASE_IMAGE, rm=True, forcerm=True)
    shutil.rmtree(context, ignore_errors=True)
    yield BASE_IMAGE
    try:
        docker_client.images.remove(BASE_IMAGE)
    except Exception:
        pass


@pytest.fixture
def project_name(docker_client) -> Iterator[str]:
    """A project name unique to this test; everything labelled with it is removed after."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    remove_project_resources(docker_client, name)


def remove_project_resources(client, project: str) -> None:
    """What the test's project made, its previews' (`<project>--pr<N>`) included."""
    def ours(labels: dict[str, str] | None) -> bool:
        owner = (labels or {}).get("pushdock.project", "")
        return owner == project or owner.startswith(f"{project}--")

    has_project = {"label": "pushdock.project"}
    for container in client.containers.list(all=True, filters=has_project):
        if ours(container.labels):
            container.remove(force=True)
    for network in client.networks.list(filters=has_project):
        if ours(network.attrs.get("Labels")):
            network.remove()
    for image in client.images.list(filters=has_project):
        if ours(image.labels):
            client.images.remove(image.id, force=True)
    # The test's own accessories' data (Pushdock itself removes it only when asked).
    for volume in client.volumes.list(filters=has_project):
        if ours(volume.attrs.get("Labels")):
            volume.remove(force=True)


@pytest.fixture
def apps_network(docker_client) -> Iterator[str]:
    name = f"pushdock-test-{uuid.uuid4().hex[:8]}"
    yield name
    for network in docker_client.networks.list(names=[name]):
        network.reload()
        for container in network.containers:
            container.remove(force=True)
        network.remove()


# -- Caddy ----------------------------------------------------------------------------------
class CaddyProcess:
    def __init__(self, workdir: Path, *, config: dict | None = None,
                 binary: str | None = None) -> None:
        binary = binary or shutil.which("caddy")
        if binary is None:
            missing("caddy is not installed (script/bootstrap installs it)")
        self.admin_port = free_port()
        self.proxy_port = free_port()
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.proxy_listen = f"127.0.0.1:{self.proxy_port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = {"admin": {"listen": f"127.0.0.1:{self.admin_port}"}, **(config or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.binary = binary

    def start(self) -> None:
        path = self.workdir / "caddy.json"
        path.write_text(json.dumps(self.config))
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.workdir),
               "XDG_DATA_HOME": str(self.workdir)}
        log = open(self.workdir / "caddy.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([self.binary, "run", "--config", str(path)],
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        from pipeline.deploy.router import CaddyRouter

        router = CaddyRouter(self.admin_url, self.proxy_listen)
        wait_for(router.reachable, timeout=15, what="caddy's admin API")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(params=sorted(CADDY_BINARIES))
def caddy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaddyProcess]:
    """A Caddy of its own for the test, once of each generation."""
    process = CaddyProcess(tmp_path / "caddy", binary=caddy_binary(request.param))
    process.start()
    yield process
    process.stop()


# -- git and settings -----------------------------------------------------------------------
@pytest.fixture
def sample_repo(tmp_path: Path) -> SampleRepo:
    if shutil.which("git") is None:
        missing("git is not installed")
    return SampleRepo(tmp_path / "app")


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, resolver_server: str) -> Settings:
    return Settings(config_dir=tmp_path / "pipelines.d", data_dir=tmp_path / "var",
                    redis_url=redis_url, resolver_listen=resolver_server,
                    resolver=f"udp/{resolver_server}")


# -- blue/green -----------------------------------------------------------------------------
@pytest.fixture
def deployer(docker_client, store: Store, caddy: CaddyProcess, settings: Settings,
             apps_network: str):
    """A BlueGreen on the test's Caddy, Redis and apps network, and the lines it logged."""
    from dataclasses import replace

    from pipeline.deploy.bluegreen import BlueGreen
    from pipeline.deploy.router import CaddyRouter
    from tests.support import Lines

    settings = replace(settings, caddy_admin=caddy.admin_url, proxy_listen=caddy.proxy_listen,
                       apps_network=apps_network)
    lines = Lines()
    router = CaddyRouter.from_settings(settings, store)
    return BlueGreen(docker_client, store, router, settings, lines), lines


# -- accessories ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_image(docker_client) -> str:
    from tests.compose_stack import ensure_standins

    return ensure_standins(docker_client)["postgres"]


@pytest.fixture
def db_app(sample_repo: SampleRepo, postgres_image: str) -> SampleRepo:
    """The sample app built on the PostgreSQL image, for its psql."""
    (sample_repo.path / "Dockerfile").write_text(
        f"FROM {postgres_image}\nCOPY www /www\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n')
    (sample_repo.path / "app.py").write_text(DB_APP)
    return sample_repo

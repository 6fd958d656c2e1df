"""A worker SIGKILLed in the middle of a deploy: reconciliation leaves one color serving."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from pipeline.config import DeploySpec, HealthSpec
from pipeline.deploy.apps import Apps
from pipeline.deploy.bluegreen import BlueGreen
from pipeline.deploy.recovery import Recovery
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import DeployError
from pipeline.model import Color
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import Lines, SampleRepo, wait_for
from tests.test_bluegreen import app_containers, image_of, request, served

DRIVER = Path(__file__).with_name("deploy_driver.py")
LOCK_TTL = 3.0  # the killed driver's lock expires this soon


@pytest.fixture
def world(docker_client, store: Store, caddy: CaddyProcess, settings: Settings,
          apps_network: str, redis_url: str):
    settings = replace(settings, caddy_admin=caddy.admin_url, proxy_listen=caddy.proxy_listen,
                       apps_network=apps_network)
    router = CaddyRouter.from_settings(settings, store)
    bluegreen = BlueGreen(docker_client, store, router, settings, Lines(), lock_ttl=LOCK_TTL)
    recovery = Recovery(Apps(docker_client, apps_network), store, router, Lines(),
                        lock_ttl=LOCK_TTL)
    return settings, bluegreen, recovery


def start_driver(settings: Settings, project: str, image: str, sha: str, run: str,
                 spec: DeploySpec) -> subprocess.Popen[str]:
    job = {"redis_url": settings.redis_url, "caddy_admin": settings.caddy_admin,
           "resolver": settings.resolver,
           "proxy_listen": settings.proxy_listen, "network": settings.apps_network,
           "project": project, "host": f"{project}.test", "image": image, "sha": sha,
           "run": run, "spec": asdict(spec), "lock_ttl": LOCK_TTL}
    return subprocess.Popen([sys.executable, str(DRIVER), json.dumps(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill(process: subprocess.Popen[str]) -> str:
    process.kill()
    output, _ = process.communicate(timeout=30)
    return output


def killed_after_the_switch(settings: Settings, store: Store, caddy: CaddyProcess, project: str,
                            image: str, sha: str, spec: DeploySpec, timeout: float = 60) -> None:
    """A deploy driven in its own process, killed once green serves and is recorded live,
    while blue drains."""
    driver = start_driver(settings, project, image, sha, "2", spec)
    try:
        wait_for(lambda: served(caddy, f"{project}.test") == "v2", timeout=timeout,
                 what="the route switched to green")
        wait_for(lambda: live_color(store, project) is Color.GREEN, timeout=30,
                 what="green recorded live")
    finally:
        output = kill(driver)
    assert "draining blue" in output and "deployed" not in output


def live_color(store: Store, project: str) -> Color | None:
    live = store.live.get(project)
    return live.color if live else None


def running_colors(docker_client, project: str) -> list[str]:
    return sorted(c.labels["pushdock.color"] for c in app_containers(docker_client, project)
                  if c.status == "running")


def v1_live_and_v2_built(docker_client, sample_repo: SampleRepo, bluegreen: BlueGreen,
                         project: str) -> tuple[str, str, str]:
    """v1 deployed (blue) and v2 built: (sha1, v2 image, sha2)."""
    v1, sha1 = image_of(docker_client, sample_repo, project, "v1")
    bluegreen.deploy(request(project, v1, sha1, "1"))
    v2, sha2 = image_of(docker_client, sample_repo, project, "v2")
    return sha1, v2, sha2


def killed_while_checking_green(settings: Settings, store: Store, docker_client,
                                project: str, image: str, sha: str) -> str:
    """A worker deploying `image` SIGKILLed while it health-checks green; its output."""
    # Green needs many probes, so the worker is still health-checking it when killed.
    slow = DeploySpec(port=8000, drain=0,
                      health=HealthSpec(interval=0.5, healthy_after=200, deadline=300))
    driver = start_driver(settings, project, image, sha, "2", slow)
    try:
        wait_for(lambda: running_colors(docker_client, project) == ["blue", "green"],
                 timeout=60, what="green started beside blue")
        wait_for(lambda: any(d.sha == sha for d in [store.deployments.in_progress(project)] if d),
                 timeout=30, what="the deploy marked in progress")
    finally:
        output = kill(driver)
    return output


def test_killed_between_starting_green_and_switching(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    settings, bluegreen, recovery = world
    sha1, v2, sha2 = v1_live_and_v2_built(docker_client, sample_repo, bluegreen, project_name)
    output = killed_while_checking_green(settings, store, docker_client, project_name, v2, sha2)
    assert "deployed" not in output
    assert served(caddy, f"{project_name}.test") == "v1"

    result = recovery.reconcile(project_name)
    assert result.stopped == (f"pushdock-{project_name}-green",)
    assert running_colors(docker_client, project_name) == ["blue"]
    live = store.live.get(project_name)
    assert live is not None and live.color is Color.BLUE and live.sha == sha1
    assert served(caddy, f"{project_name}.test") == "v1"
    interrupted = store.deployments.history(project_name)[0]
    assert interrupted.sha == sha2 and interrupted.result == "interrupted"
    assert store.deployments.in_progress(project_name) is None


def test_killed_after_switching_during_the_drain(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    settings, bluegreen, _ = world
    _sha1, v2, sha2 = v1_live_and_v2_built(docker_client, sample_repo, bluegreen, project_name)
    long_drain = DeploySpec(port=8000, drain=300, health=HealthSpec(interval=0.2, deadline=30))
    killed_after_the_switch(settings, store, caddy, project_name, v2, sha2, long_drain)
    assert running_colors(docker_client, project_name) == ["blue", "green"]

    # A worker starting up reconciles every project.
    from workers.recover import recover

    [result] = recover(settings, say=lambda line: None)
    assert result.stopped == (f"pushdock-{project_name}-blue",)
    assert running_colors(docker_client, project_name) == ["green"]
    assert served(caddy, f"{project_name}.test") == "v2"
    live = store.live.get(project_name)
    assert live is not None and live.color is Color.GREEN and live.sha == sha2
    finished = store.deployments.history(project_name)[0]
    assert finished.sha == sha2 and finished.result == "live"
    assert "reconciliation" in finished.reason


def test_a_route_pointing_elsewhere_than_the_record_wins(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    """Killed right after the PATCH, before the record: the route says what serves."""
    _, bluegreen, recovery = world
    sha1, v2, sha2 = v1_live_and_v2_built(docker_client, sample_repo, bluegreen, project_name)
    bluegreen.deploy(request(project_name, v2, sha2, "2"))
    green = store.live.get(project_name)
    assert green is not None
    store.live.set(replace(green, color=Color.BLUE, sha=sha1,
                           container=f"pushdock-{project_name}-blue"))  # one step behind
    result = recovery.reconcile(project_name)
    assert result.record_fixed and store.live.get(project_name) == green
    assert served(caddy, f"{project_name}.test") == "v2"


def test_a_lost_record_is_rebuilt_with_the_host_its_route_matches(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    """No record and no deploy under way: the route is all that names the host, and a
    record rebuilt without it could not put a lost route back."""
    _, bluegreen, recovery = world
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    before = store.live.get(project_name)
    assert before is not None and before.host == f"{project_name}.test"
    store.live.clear(project_name)
    result = recovery.reconcile(project_name)
    assert result.record_fixed and store.live.get(project_name) == before
    assert served(caddy, f"{project_name}.test") == "v1"


def test_caddy_gone_at_the_switch_leaves_green_to_reconciliation(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    _, bluegreen, recovery = world
    _sha1, v2, sha2 = v1_live_and_v2_built(docker_client, sample_repo, bluegreen, project_name)
    slow = DeploySpec(port=8000, drain=0,
                      health=HealthSpec(interval=0.2, healthy_after=25, deadline=60))

    def stop_caddy_once_green_runs() -> None:
        wait_for(lambda: running_colors(docker_client, project_name) == ["blue", "green"],
                 timeout=60, what="green started")
        caddy.stop()

    stopper = threading.Thread(target=stop_caddy_once_green_runs)
    stopper.start()
    try:
        with pytest.raises(DeployError, match=r"could not switch the proxy.*left for "
                                              "reconciliation"):
            bluegreen.deploy(request(project_name, v2, sha2, "2", slow))
    finally:
        stopper.join()
    assert store.deployments.history(project_name)[0].result == "failed"
    caddy.start()  # back with an empty config
    assert recovery.restore_routes() == [project_name]
    result = recovery.reconcile(project_name)
    assert result.stopped == (f"pushdock-{project_name}-green",)
    assert running_colors(docker_client, project_name) == ["blue"]
    assert served(caddy, f"{project_name}.test") == "v1"


def test_the_next_deploy_reconciles_a_killed_one_first(
        world, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    settings, bluegreen, _ = world
    sha1, v2, sha2 = v1_live_and_v2_built(docker_client, sample_repo, bluegreen, project_name)
    killed_while_checking_green(settings, store, docker_client, project_name, v2, sha2)
    v3, sha3 = image_of(docker_client, sample_repo, project_name, "v3")
    deployment = bluegreen.deploy(request(project_name, v3, sha3, "3"))  # waits for the lock
    assert deployment.color is Color.GREEN
    assert running_colors(docker_client, project_name) == ["green"]
    assert served(caddy, f"{project_name}.test") == "v3"
    assert [(d.sha, d.result) for d in store.deployments.history(project_name)] == [
        (sha3, "live"), (sha2, "interrupted"), (sha1, "live")]

"""The blue/green sequence on the real engine, a real Caddy and a real Redis."""

from __future__ import annotations

import urllib.request

import pytest

from pipeline.build import build_image
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import HealthCheckFailed
from pipeline.model import BuildSpec, Color, DeploySpec, HealthSpec
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import Lines, SampleRepo

FAST = DeploySpec(port=8000, drain=0, health=HealthSpec(interval=0.2, deadline=15))


@pytest.fixture
def deployer(docker_client, store: Store, caddy: CaddyProcess, settings: Settings,
             apps_network: str):
    from dataclasses import replace

    settings = replace(settings, caddy_admin=caddy.admin_url, proxy_listen=caddy.proxy_listen,
                       apps_network=apps_network)
    lines = Lines()
    router = CaddyRouter(caddy.admin_url, caddy.proxy_listen)
    return BlueGreen(docker_client, store, router, settings, lines), lines


def served(caddy: CaddyProcess, host: str) -> str:
    request = urllib.request.Request(f"http://{caddy.proxy_listen}/", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode().strip()


def image_of(docker_client, repo: SampleRepo, project: str, version: str, **files: str) -> tuple[
        str, str]:
    sha = repo.commit(version, files=files or None)
    return build_image(docker_client, BuildSpec(), repo.path, project, sha, Lines()), sha


def request(project: str, image: str, sha: str, run: str, spec: DeploySpec = FAST
            ) -> DeployRequest:
    return DeployRequest(project=project, host=f"{project}.test", image=image, sha=sha,
                         run_id=run, trigger="push", spec=spec, secrets={"API_KEY": "k"})


def app_containers(docker_client, project: str) -> list:
    return docker_client.containers.list(
        all=True, filters={"label": [f"pushdock.project={project}", "pushdock.role=app"]})


def test_first_deploy_then_swap(deployer, docker_client, base_image: str,
                                project_name: str, sample_repo: SampleRepo, store: Store,
                                caddy: CaddyProcess) -> None:
    bluegreen, lines = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    first = bluegreen.deploy(request(project_name, v1, sha1, "1"))
    assert first.color is Color.BLUE and first.result == "live"
    assert served(caddy, f"{project_name}.test") == "v1"
    [blue] = app_containers(docker_client, project_name)
    assert blue.name == f"pushdock-{project_name}-blue"
    assert blue.labels["pushdock.sha"] == sha1 and blue.labels["pushdock.run"] == "1"
    assert blue.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert "API_KEY=k" in blue.attrs["Config"]["Env"]

    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    second = bluegreen.deploy(request(project_name, v2, sha2, "2"))
    assert second.color is Color.GREEN
    assert served(caddy, f"{project_name}.test") == "v2"
    [green] = app_containers(docker_client, project_name)
    assert green.name == f"pushdock-{project_name}-green"
    live = store.live(project_name)
    assert live is not None and live.color is Color.GREEN and live.sha == sha2
    assert [d.sha for d in store.deployments(project_name)] == [sha2, sha1]
    assert any(line.startswith(f"switched {project_name}.test to green") for line in lines.lines)


def test_failing_health_leaves_the_old_colour_serving(deployer, docker_client,
                                                      base_image: str, project_name: str,
                                                      sample_repo: SampleRepo, store: Store,
                                                      caddy: CaddyProcess) -> None:
    bluegreen, lines = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    (sample_repo.path / "www" / "healthz").unlink()  # the new version answers 404 on /healthz
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    spec = DeploySpec(port=8000, drain=0, health=HealthSpec(interval=0.2, deadline=6))
    with pytest.raises(HealthCheckFailed, match="last probe 404"):
        bluegreen.deploy(request(project_name, v2, sha2, "2", spec))
    assert served(caddy, f"{project_name}.test") == "v1"
    [blue] = app_containers(docker_client, project_name)
    assert blue.name.endswith("-blue") and blue.status == "running"
    live = store.live(project_name)
    assert live is not None and live.sha == sha1
    assert store.deployments(project_name)[0].result == "failed"
    assert any(line.startswith("health 1: 404") for line in lines.lines)

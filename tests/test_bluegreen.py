"""The blue/green sequence on the real engine, a real Caddy and a real Redis."""

from __future__ import annotations

import threading
import urllib.request
import uuid

import pytest

from pipeline.build import build_image
from pipeline.config import BuildSpec, DeploySpec, HealthSpec
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.errors import DeployError, HealthCheckFailed
from pipeline.model import Color
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import Lines, SampleRepo

FAST = DeploySpec(port=8000, drain=0, health=HealthSpec(interval=0.2, deadline=15))


def served(caddy: CaddyProcess, host: str) -> str:
    request = urllib.request.Request(f"http://{caddy.proxy_listen}/", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode().strip()


def image_of(docker_client, repo: SampleRepo, project: str, version: str, **files: str) -> tuple[
        str, str]:
    sha = repo.commit(version, files=files or None)
    return build_image(BuildSpec(), repo.path, project, sha, Lines()), sha


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
    live = store.live.get(project_name)
    assert live is not None and live.color is Color.GREEN and live.sha == sha2
    assert [d.sha for d in store.deployments.history(project_name)] == [sha2, sha1]
    assert any(line.startswith(f"switched {project_name}.test to green") for line in lines.lines)


def test_failing_health_leaves_the_old_color_serving(deployer, docker_client,
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
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha1
    assert store.deployments.history(project_name)[0].result == "failed"
    assert any(line.startswith("health 1: 404") for line in lines.lines)


# A health endpoint that answers 200 twice (the direct health check) and 503 after that
# (busybox httpd passes a CGI answer starting with "HTTP" through as it is).
FLAKY_HEALTH = """#!/bin/sh
n=$(cat /tmp/probes 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/probes
if [ $n -le 2 ]; then printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'
else printf 'HTTP/1.0 503 Service Unavailable\\r\\nContent-Type: text/plain\\r\\n\\r\\nno\\n'; fi
"""


def test_failing_check_through_the_proxy_switches_back(
        deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    script = sample_repo.path / "www" / "cgi-bin" / "health"
    script.parent.mkdir()
    script.write_text(FLAKY_HEALTH)
    script.chmod(0o755)
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    spec = DeploySpec(port=8000, drain=0,
                      health=HealthSpec(path="/cgi-bin/health", interval=0.2, deadline=2))
    with pytest.raises(DeployError, match=r"check through the proxy failed .*503.*switched "
                                          r"back to blue"):
        bluegreen.deploy(request(project_name, v2, sha2, "2", spec))
    assert served(caddy, f"{project_name}.test") == "v1"
    assert [c.name for c in app_containers(docker_client, project_name)] == [
        f"pushdock-{project_name}-blue"]
    last = store.deployments.history(project_name)[0]
    assert last.result == "failed" and last.switched is not None and last.sha == sha2
    assert any("503" in line for line in last.health)
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha1


def test_health_without_a_path_is_a_tcp_connect(deployer, docker_client, base_image: str,
                                                 project_name: str, sample_repo: SampleRepo,
                                                 caddy: CaddyProcess) -> None:
    bluegreen, lines = deployer
    (sample_repo.path / "www" / "healthz").unlink()  # nothing answers 2xx but the port is open
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    spec = DeploySpec(port=8000, drain=0, health=HealthSpec(path="", interval=0.2, deadline=15))
    assert bluegreen.deploy(request(project_name, v1, sha1, "1", spec)).result == "live"
    assert served(caddy, f"{project_name}.test") == "v1"
    assert "health 1: connected (1/2)" in lines.lines


def test_two_deploys_of_one_project_run_one_after_the_other(
        deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    errors: list[BaseException] = []

    def deploy(image: str, sha: str, run: str) -> None:
        try:
            # Each deploy has its own BlueGreen, as two workers would.
            BlueGreen(docker_client, store, bluegreen.router, bluegreen.settings,
                      Lines()).deploy(request(project_name, image, sha, run))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=args)
               for args in ((v1, sha1, "1"), (v2, sha2, "2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    second, first = store.deployments.history(project_name)
    assert first.result == second.result == "live"
    assert first.finished is not None and second.started >= first.finished  # no overlap
    assert {first.color, second.color} == {Color.BLUE, Color.GREEN}
    [container] = app_containers(docker_client, project_name)
    assert container.labels["pushdock.sha"] == second.sha
    assert served(caddy, f"{project_name}.test") == ("v1" if second.sha == sha1 else "v2")


def test_two_projects_on_two_hosts_at_once(deployer, docker_client, base_image: str,
                                           sample_repo: SampleRepo, store: Store,
                                           caddy: CaddyProcess, tmp_path) -> None:
    from tests.conftest import remove_project_resources

    bluegreen, _ = deployer
    projects = [f"two{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        images = [image_of(docker_client, sample_repo, p, f"app {p}") for p in projects]
        errors: list[BaseException] = []

        def deploy(project: str, image: str, sha: str) -> None:
            try:
                BlueGreen(docker_client, store, bluegreen.router, bluegreen.settings,
                          Lines()).deploy(request(project, image, sha, "1"))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=deploy, args=(p, *i))
                   for p, i in zip(projects, images, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for project in projects:
            assert served(caddy, f"{project}.test") == f"app {project}"
    finally:
        for project in projects:
            remove_project_resources(docker_client, project)


def test_caddy_restarted_with_an_empty_config_gets_its_routes_back(
        deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    caddy.stop()
    caddy.start()  # the same ports, only the admin section: every route is gone
    assert bluegreen.router.upstream(project_name) is None
    assert bluegreen.recovery.restore_routes() == [project_name]
    assert served(caddy, f"{project_name}.test") == "v1"
    assert bluegreen.recovery.restore_routes() == []  # nothing left to restore
    caddy.stop()
    caddy.start()
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    bluegreen.deploy(request(project_name, v2, sha2, "2"))  # restores, then swaps
    assert served(caddy, f"{project_name}.test") == "v2"

    # The resolver's answer lost while Caddy kept the route (Redis restored from an older
    # backup): put back from the live record too.
    store.upstreams.remove(project_name)
    assert bluegreen.router.upstream(project_name) is None
    assert bluegreen.recovery.restore_routes() == [project_name]
    assert served(caddy, f"{project_name}.test") == "v2"


def test_a_missing_image_is_never_pulled(deployer, project_name: str, store: Store) -> None:
    bluegreen, _ = deployer
    missing = f"{project_name}:{'0' * 40}"
    with pytest.raises(DeployError, match=f"image {missing} is not on this engine"):
        bluegreen.deploy(request(project_name, missing, "0" * 40, "1"))
    assert store.deployments.history(project_name)[0].result == "failed"
    assert store.live.get(project_name) is None


def test_images_beyond_keep_are_pruned_for_that_project_only(
        deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo) -> None:
    bluegreen, _ = deployer
    keep_two = DeploySpec(port=8000, drain=0, keep=2, health=HealthSpec(interval=0.2,
                                                                        deadline=15))
    built = []
    for number in range(4):
        image, sha = image_of(docker_client, sample_repo, project_name, f"v{number}")
        bluegreen.deploy(request(project_name, image, sha, str(number), keep_two))
        built.append((image, sha))
    feature = image_of(docker_client, sample_repo, project_name, "a feature branch")
    bluegreen.deploy(request(project_name, built[2][0], built[2][1], "5", keep_two))
    tags = {tag for image in docker_client.images.list(
        filters={"label": f"pushdock.project={project_name}"}) for tag in image.tags}
    # Newest two: the feature branch's and v3; v2 is live; v1 and v0 are gone.
    assert tags == {feature[0], built[3][0], built[2][0]}
    assert docker_client.images.list(name=base_image)  # not the project's: untouched

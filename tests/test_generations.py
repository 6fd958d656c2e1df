"""A whole generation on the real engine, a real Caddy and a real Redis: a release command,
two web replicas and a worker process, deployed, refused, and killed mid-way (DESIGN §9.2)."""

from __future__ import annotations

import io
import tarfile
import urllib.request
from dataclasses import replace

import pytest

from pipeline.config import DeploySpec, HealthSpec, ProcessSpec, ReleaseSpec
from pipeline.deploy.apps import Apps
from pipeline.deploy.bluegreen import BlueGreen
from pipeline.deploy.networks import ensure_project_network
from pipeline.errors import DeployError, HealthCheckFailed
from pipeline.model import Color
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import SampleRepo, wait_for
from tests.test_bluegreen import image_of, request, served
from tests.test_recovery import kill, start_driver, world  # noqa: F401 (a fixture)

# Answers the container's host name: which replica served a request.
WHO = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'; hostname\n"
# Healthy everywhere but on the second web replica, when the file says so.
HEALTH = """#!/bin/sh
case "$(hostname)-$(cat /www/sick 2>/dev/null)" in
  *-web-2-yes) printf 'HTTP/1.0 500 Sick\\r\\nContent-Type: text/plain\\r\\n\\r\\nno\\n' ;;
  *) printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n' ;;
esac
"""
# The worker: ready once it has written its file, then working until stopped.
WORKER = ("sh", "-c", "echo worker up; touch /tmp/ready; exec sleep 100000")
# The release tells the "marks" service which version it released.
RELEASE = ('wget -q -O /dev/null '
           '"http://$MARKS:9000/cgi-bin/mark?released-$(cat /www/index.html)"')


def app_spec(**changes: object) -> DeploySpec:
    spec = DeploySpec(
        port=8000, drain=0, replicas=2, env={"MARKS": MARKS_HOST},
        health=HealthSpec(path="/cgi-bin/health", interval=0.2, deadline=15),
        release=ReleaseSpec(run=RELEASE, timeout=30),
        processes=(ProcessSpec(name="worker", command=WORKER, ready="test -f /tmp/ready",
                               deadline=15, stop_timeout=2),))
    return replace(spec, **changes)


MARKS_HOST = "marks"  # the marks service's name on the project's network
MARKS_SERVICE = "mkdir -p /srv/cgi-bin && touch /tmp/marks && exec httpd -f -p 9000 -h /srv"
MARK = ('#!/bin/sh\necho "$QUERY_STRING" >> /tmp/marks\n'
        'printf "Content-Type: text/plain\\r\\n\\r\\nok\\n"\n')


def script_archive(name: str, text: str) -> bytes:
    """A tar holding one executable file, for put_archive."""
    data, buffer = text.encode(), io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def marks(docker_client, base_image: str, project_name: str, apps_network: str):
    """A service on the project's own network (where its accessories will be) that keeps
    the query of every request to /cgi-bin/mark on port 9000, one a line."""
    Apps(docker_client, apps_network).ensure_network()
    network = ensure_project_network(docker_client, project_name, apps_network)
    container = docker_client.containers.run(
        base_image, ["sh", "-c", MARKS_SERVICE],
        name=f"{project_name}-marks", network=network, detach=True,
        networking_config={network: docker_client.api.create_endpoint_config(
            aliases=[MARKS_HOST])},
        labels={"pushdock.project": project_name})
    wait_for(lambda: "9000" in container.exec_run(["netstat", "-ln"]).output.decode(),
             timeout=15, what="the marks service listening")
    wait_for(lambda: container.exec_run(["test", "-d", "/srv/cgi-bin"]).exit_code == 0,
             timeout=15, what="the marks service's directory")
    container.put_archive("/srv/cgi-bin", script_archive("mark", MARK))

    def lines() -> list[str]:
        output = container.exec_run(["cat", "/tmp/marks"]).output.decode()
        return output.split("\n")[:-1]

    return lines


def with_scripts(sample_repo: SampleRepo) -> None:
    for name, text in (("who", WHO), ("health", HEALTH)):
        path = sample_repo.path / "www" / "cgi-bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)


def members(docker_client, project: str) -> list[tuple[str, str, str]]:
    """(name, sha, status) of every app container of the project, by name."""
    found = docker_client.containers.list(
        all=True, filters={"label": [f"pushdock.project={project}", "pushdock.role=app"]})
    return sorted((c.name, c.labels["pushdock.sha"], c.status) for c in found)


def generation(project: str, color: str, sha: str) -> list[tuple[str, str, str]]:
    base = f"pushdock-{project}-{color}"
    return [(base, sha, "running"), (f"{base}-web-2", sha, "running"),
            (f"{base}-worker-1", sha, "running")]


def who(caddy: CaddyProcess, host: str) -> str:
    req = urllib.request.Request(f"http://{caddy.proxy_listen}/cgi-bin/who",
                                 headers={"Host": host})
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.read().decode().strip()


def first_generation(docker_client, sample_repo, bluegreen: BlueGreen, project: str,
                     marks) -> str:
    with_scripts(sample_repo)
    v1, sha1 = image_of(docker_client, sample_repo, project, "v1")
    bluegreen.deploy(request(project, v1, sha1, "1", app_spec()))
    assert marks() == ["released-v1"]
    return sha1


def test_a_push_deploys_release_replicas_and_worker(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess, marks) -> None:
    bluegreen, lines = deployer
    sha1 = first_generation(docker_client, sample_repo, bluegreen, project_name, marks)
    host = f"{project_name}.test"
    assert members(docker_client, project_name) == generation(project_name, "blue", sha1)
    # Round robin through the resolver's two answers: both replicas serve.
    assert {who(caddy, host) for _ in range(6)} == {f"{project_name}-blue",
                                                     f"{project_name}-blue-web-2"}

    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    deployment = bluegreen.deploy(request(project_name, v2, sha2, "2", app_spec()))
    assert deployment.color is Color.GREEN and deployment.result == "live"
    assert marks() == ["released-v1", "released-v2"]  # once per deploy
    assert members(docker_client, project_name) == generation(project_name, "green", sha2)
    assert served(caddy, host) == "v2"
    assert len(deployment.upstream.split(",")) == 2
    assert any(line.startswith("── release:") for line in lines.lines)
    recorded = store.deployments.history(project_name)[0].spec
    assert recorded is not None and recorded.processes[0].name == "worker"
    assert recorded.replicas == 2

    # A rollback brings the whole earlier generation back, without its release.
    v1 = store.deployments.history(project_name)[1].image
    back = bluegreen.deploy(replace(request(project_name, v1, sha1, "3", recorded),
                                    release=False))
    assert back.color is Color.BLUE and marks() == ["released-v1", "released-v2"]
    assert members(docker_client, project_name) == generation(project_name, "blue", sha1)
    assert any(line.startswith("release: not run") for line in lines.lines)


@pytest.mark.parametrize("failure", ["release", "replica", "worker"])
def test_a_failing_generation_leaves_the_old_one_serving_and_working(
        failure: str, deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess, marks) -> None:
    bluegreen, _ = deployer
    sha1 = first_generation(docker_client, sample_repo, bluegreen, project_name, marks)
    spec, expected = app_spec(), DeployError
    if failure == "release":
        spec = replace(spec, release=ReleaseSpec(run="echo migrating; exit 3", timeout=30))
        match = "release failed with exit code 3; nothing new started"
    elif failure == "replica":
        (sample_repo.path / "www" / "sick").write_text("yes")
        spec = replace(spec, health=replace(spec.health, deadline=3))
        expected, match = HealthCheckFailed, "500"
    else:
        never = replace(spec.processes[0], ready="test -f /tmp/never", deadline=3)
        spec = replace(spec, processes=(never,))
        match = "worker-1 never became ready"
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    with pytest.raises(expected, match=match):
        bluegreen.deploy(request(project_name, v2, sha2, "2", spec))
    assert members(docker_client, project_name) == generation(project_name, "blue", sha1)
    assert served(caddy, f"{project_name}.test") == "v1"
    assert marks() == ["released-v1"] + (["released-v2"] if failure != "release" else [])
    failed = store.deployments.history(project_name)[0]
    assert failed.sha == sha2 and failed.result == "failed"
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha1


KILL_POINTS = {
    # the release still running
    "release": lambda spec: replace(spec, release=ReleaseSpec(run="exec sleep 300")),
    # web replicas healthy, the worker started and not yet ready
    "processes": lambda spec: replace(spec, processes=(replace(
        spec.processes[0], ready="test -f /tmp/never", deadline=300),)),
    # switched, draining the old generation
    "drain": lambda spec: replace(spec, drain=300),
}


def _reached(point: str, docker_client, project: str, caddy: CaddyProcess) -> bool:
    names = {name for name, _, status in members(docker_client, project) if status == "running"}
    if point == "release":
        return bool(docker_client.containers.list(
            filters={"name": f"pushdock-{project}-green-release"}))
    if point == "processes":
        return f"pushdock-{project}-green-worker-1" in names
    return served(caddy, f"{project}.test") == "v2"


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_worker_killed_mid_generation_is_reconciled_to_one_whole_generation(
        point: str, world, docker_client, base_image: str, project_name: str,  # noqa: F811
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess, marks) -> None:
    settings, bluegreen, recovery = world
    sha1 = first_generation(docker_client, sample_repo, bluegreen, project_name, marks)
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    driver = start_driver(settings, project_name, v2, sha2, "2", KILL_POINTS[point](app_spec()))
    try:
        wait_for(lambda: _reached(point, docker_client, project_name, caddy), timeout=60,
                 what=f"the deploy at {point}")
    finally:
        output = kill(driver)
    assert "deployed" not in output
    recovery.reconcile(project_name)
    color, sha, version_served = ("green", sha2, "v2") if point == "drain" else ("blue", sha1,
                                                                                 "v1")
    assert members(docker_client, project_name) == generation(project_name, color, sha)
    assert not docker_client.containers.list(all=True, filters={
        "label": [f"pushdock.project={project_name}", "pushdock.role=release"]})
    assert served(caddy, f"{project_name}.test") == version_served
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha and len(live.upstream.split(",")) == 2


def test_status_and_logs_show_each_process_of_the_live_generation(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess, marks, settings, capsys) -> None:
    from pipeline.errors import ConfigError
    from pushdock.app_logs import app_logs
    from pushdock.status import status

    bluegreen, _ = deployer
    sha1 = first_generation(docker_client, sample_repo, bluegreen, project_name, marks)
    settings = replace(settings, apps_network=bluegreen.settings.apps_network)
    capsys.readouterr()
    status(settings, project_name, 5)
    shown = capsys.readouterr().out
    assert f"{project_name}: live blue {sha1[:7]}" in shown
    assert "  web: 2 replicas — web.1 running, web.2 running" in shown
    assert "  worker: 1 replica — worker.1 running" in shown
    app_logs(settings, project_name, "worker", follow=False, tail=10)
    assert capsys.readouterr().out.splitlines() == ["worker.1 | worker up"]
    with pytest.raises(ConfigError, match=r"has no process mailer .*worker"):
        app_logs(settings, project_name, "mailer", follow=False, tail=10)

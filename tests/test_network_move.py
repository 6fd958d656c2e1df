"""A deployment made before each project had a network of its own (DESIGN.md §9.3) moves to
its project's network on its next deploy, under load through Caddy, without a failed
request; until then recovery and the deploy find its containers on the apps network.

The old shape is made from a deploy of today's code: every container of the live generation
is moved from the project's network to the apps network (with the names it had there), the
project network is removed, and the route and live record follow the new addresses, as a
deploy of the earlier version left them.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from bench.load import start_wrk, stop_wrk
from pipeline.config import DeploySpec, HealthSpec, ProcessSpec, ReleaseSpec
from pipeline.deploy.apps import is_web, member_order
from pipeline.deploy.bluegreen import BlueGreen
from pipeline.deploy.networks import ensure_project_network
from pipeline.errors import DeployError
from pipeline.model import Color
from pipeline.names import project_network
from pipeline.store import Store
from pipeline.upstream import Upstream, join_upstreams, parse_upstreams
from tests.conftest import CaddyProcess
from tests.support import SampleRepo
from tests.test_bluegreen import app_containers, image_of, request, served
from tests.test_recovery import killed_after_the_switch
from workers.recover import recover

# A whole generation, as the zero-downtime bench deploys it: a release, two web replicas
# and a worker; the drain lets requests already sent to the old color finish.
SPEC = DeploySpec(port=8000, drain=1.0, replicas=2, release=ReleaseSpec(run="true"),
                  processes=(ProcessSpec(name="worker", command=("sleep", "100000"),
                                         settle=0.5, stop_timeout=1),),
                  health=HealthSpec(path="/healthz", interval=0.2, deadline=30))
CONNECTIONS = 4  # each load's; two loads at once on a small machine


def networks_of(container) -> list[str]:
    container.reload()
    return sorted(container.attrs["NetworkSettings"]["Networks"])


def old_shape(docker_client, bluegreen: BlueGreen, store: Store, project: str) -> str:
    """The live generation on the apps network only, routed and recorded there; no project
    network. Returns the web replicas' upstream on the apps network."""
    own, apps = project_network(project), bluegreen.settings.apps_network
    web: list[Upstream] = []
    for container in sorted(app_containers(docker_client, project), key=member_order):
        endpoint = container.attrs["NetworkSettings"]["Networks"][own]
        # The engine gives every endpoint the container's short id as a name itself.
        aliases = [a for a in endpoint.get("Aliases") or () if a != container.id[:12]]
        docker_client.networks.get(own).disconnect(container)
        docker_client.networks.get(apps).connect(container, aliases=aliases or None)
        container.reload()
        if is_web(container):
            address = container.attrs["NetworkSettings"]["Networks"][apps]["IPAddress"]
            web.append(Upstream(address, SPEC.port))
    docker_client.networks.get(own).remove()
    live = store.live.get(project)
    assert live is not None
    upstream = join_upstreams(web)
    bluegreen.router.set_route(project, live.host, upstream)
    store.live.set(replace(live, upstream=upstream))
    return upstream


def deployed_in_the_old_shape(deployer, docker_client, sample_repo: SampleRepo, store: Store,
                              caddy: CaddyProcess, project: str) -> str:
    """v1 live in the old shape, answering through Caddy; its upstream."""
    bluegreen, _ = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project, "v1")
    bluegreen.deploy(request(project, v1, sha1, "1", SPEC))
    upstream = old_shape(docker_client, bluegreen, store, project)
    apps = bluegreen.settings.apps_network
    blue = app_containers(docker_client, project)
    assert len(blue) == 3 and {networks_of(c)[0] for c in blue} == {apps}
    assert all(networks_of(c) == [apps] for c in blue)
    assert not docker_client.networks.list(names=[project_network(project)])
    on_apps = {c.attrs["NetworkSettings"]["Networks"][apps]["IPAddress"]
               for c in blue if is_web(c)}
    assert {u.host for u in parse_upstreams(upstream)} == on_apps
    assert bluegreen.router.upstream(project) == upstream
    assert served(caddy, f"{project}.test") == "v1"  # the resolver answers the apps network
    return upstream


def next_after_the_old_shape(deployer, docker_client, sample_repo: SampleRepo, store: Store,
                             caddy: CaddyProcess, project: str) -> tuple[str, str]:
    """The project live in the old shape, and the image of its next commit built."""
    deployed_in_the_old_shape(deployer, docker_client, sample_repo, store, caddy, project)
    return image_of(docker_client, sample_repo, project, "v2")


def test_the_next_deploy_moves_it_to_the_project_network_without_a_failed_request(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    host = f"{project_name}.test"
    v2, sha2 = next_after_the_old_shape(deployer, docker_client, sample_repo, store, caddy,
                                        project_name)
    url = f"http://{caddy.proxy_listen}/"
    loads: list[tuple[subprocess.Popen[str], str]] = []
    try:
        for keep_alive, mode in ((True, "keep-alive"), (False, "Connection: close")):
            loads.append((start_wrk(url, host, keep_alive, CONNECTIONS), mode))
        second = bluegreen.deploy(request(project_name, v2, sha2, "2", SPEC))
        assert served(caddy, host) == "v2"
    finally:
        results = [stop_wrk(process, mode) for process, mode in loads]
    for result in results:
        assert result.requests > 0, result.output
        assert result.failed == 0, result.output

    assert second.color is Color.GREEN and second.result == "live"
    own = project_network(project_name)
    green = app_containers(docker_client, project_name)
    assert sorted(c.name for c in green) == sorted(
        f"pushdock-{project_name}-green{suffix}" for suffix in ("", "-web-2", "-worker-1"))
    assert all(networks_of(c) == [own] for c in green)
    addresses = {c.attrs["NetworkSettings"]["Networks"][own]["IPAddress"]
                 for c in green if is_web(c)}
    live = store.live.get(project_name)
    assert live is not None and live.sha == sha2
    assert {u.host for u in parse_upstreams(live.upstream)} == addresses
    assert bluegreen.router.upstream(project_name) == live.upstream
    network = docker_client.networks.get(own)
    assert set(network.attrs["Containers"]) == {c.id for c in green}


def test_recovery_and_the_deploy_find_the_old_shape(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    host = f"{project_name}.test"
    upstream = deployed_in_the_old_shape(deployer, docker_client, sample_repo, store, caddy,
                                         project_name)
    blue = sorted(c.name for c in app_containers(docker_client, project_name))

    # Found on the apps network, before and after the project network exists.
    assert sorted(c.name for c in bluegreen.apps.containers(project_name)) == blue
    assert project_name in bluegreen.apps.projects()
    bluegreen.apps.ensure_project_network(project_name)
    assert sorted(c.name for c in bluegreen.apps.containers(project_name)) == blue
    assert project_name in bluegreen.apps.projects()

    # Reconciliation keeps the old shape's generation serving, whole.
    done = bluegreen.recovery.reconcile(project_name)
    assert (done.stopped, done.route_fixed, done.record_fixed) == ((), False, False)
    assert done.live is not None and done.live.upstream == upstream

    # A lost resolver answer is restored at the apps network's addresses.
    store.upstreams.remove(project_name)
    assert bluegreen.recovery.restore_routes() == [project_name]
    assert bluegreen.router.upstream(project_name) == upstream
    assert served(caddy, host) == "v1"
    assert sorted(c.name for c in app_containers(docker_client, project_name)) == blue

    # A lost live record is put back from the route pointing at the apps network.
    store.live.clear(project_name)
    done = bluegreen.recovery.reconcile(project_name)
    assert done.record_fixed and not done.stopped
    live = store.live.get(project_name)
    assert live is not None and live.color is Color.BLUE and live.upstream == upstream
    assert live.container == f"pushdock-{project_name}-blue"
    assert sorted(c.name for c in app_containers(docker_client, project_name)) == blue


def test_a_worker_killed_during_the_move_leaves_the_new_network_serving(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    host = f"{project_name}.test"
    v2, sha2 = next_after_the_old_shape(deployer, docker_client, sample_repo, store, caddy,
                                        project_name)
    blue = sorted(c.name for c in app_containers(docker_client, project_name))
    killed_after_the_switch(bluegreen.settings, store, caddy, project_name, v2, sha2,
                            replace(SPEC, drain=300), timeout=90)

    # A worker starting up finds the old shape on the apps network and stops it, whole.
    [result] = recover(bluegreen.settings, say=lambda line: None)
    assert sorted(result.stopped) == blue
    own = project_network(project_name)
    green = app_containers(docker_client, project_name)
    assert sorted(c.name for c in green) == sorted(name.replace("-blue", "-green")
                                                   for name in blue)
    assert all(networks_of(c) == [own] for c in green)
    assert served(caddy, host) == "v2"
    finished = store.deployments.history(project_name)[0]
    assert finished.sha == sha2 and finished.result == "live"


def test_a_network_of_the_projects_name_made_for_something_else_is_not_joined(
        docker_client, project_name: str) -> None:
    # As the apps network would be for a project called `apps`.
    taken = docker_client.networks.create(project_network(project_name), driver="bridge")
    try:
        with pytest.raises(DeployError, match=r"is not .*'s own"):
            ensure_project_network(docker_client, project_name, "pushdock-test-edge")
    finally:
        taken.remove()
    made = ensure_project_network(docker_client, project_name, "pushdock-test-edge")
    try:
        assert ensure_project_network(docker_client, project_name, "pushdock-test-edge") == made
    finally:
        docker_client.networks.get(made).remove()

"""Projects cannot reach each other (DESIGN.md §9.3), on the real engine: project A's app
answers through Caddy, and on its own network, but not from project B's network, a run's
network, or the default bridge; nor its accessories."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Iterator

import pytest

from pipeline.deploy.networks import connect_edges_to_all, ensure_project_network
from pipeline.engine_isolation import isolation_gap
from pipeline.names import Role, run_labels, run_network
from pipeline.store import Store
from tests.conftest import CaddyProcess, remove_project_resources
from tests.support import SampleRepo
from tests.test_accessories import count, db_container, deploy_request, postgres
from tests.test_bluegreen import app_containers, image_of, request, served


@pytest.fixture
def other_project(docker_client) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    remove_project_resources(docker_client, name)


def answer(docker_client, image: str, network: str, address: str) -> str | None:
    """What a container on `network` gets from http://address/, or None for no answer."""
    output = docker_client.containers.run(
        # `timeout`, not wget's -T, which crashes Debian's static busybox.
        image, ["sh", "-c", f"timeout 5 wget -q -O - http://{address}/ && echo REACHED || true"],
        network=network, remove=True).decode()
    return output.removesuffix("REACHED\n").strip() if output.endswith("REACHED\n") else None


def subnets(docker_client, network: str) -> list[ipaddress.IPv4Network]:
    """The IPv4 subnets `network` has now, read from the engine (not from an older copy)."""
    config = docker_client.networks.get(network).attrs["IPAM"]["Config"] or []
    return [ipaddress.ip_network(c["Subnet"]) for c in config if "." in c.get("Subnet", "")]


def holders(docker_client, address: str) -> list[str]:
    """Every network/container of the engine that holds `address` now: who answered."""
    found = []
    for network in docker_client.networks.list(greedy=True):
        for endpoint in (network.attrs.get("Containers") or {}).values():
            if endpoint.get("IPv4Address", "").split("/")[0] == address:
                found.append(f"{network.name}/{endpoint.get('Name')}")
    return found


def engine_note(docker_client) -> str:
    """Why an answer across networks can come on this engine, for a failure's message."""
    gap = isolation_gap(docker_client.info())
    return gap.describe() if gap else "the engine keeps networks apart throughout"


def assert_foreign(docker_client, address: str, own: str, probe_networks: Iterable[str]) -> None:
    """The address is A's, on A's network, and on none of the probe's networks: an answer
    can only come across networks, never from a neighbour given the same address."""
    ip = ipaddress.ip_address(address)
    assert any(ip in subnet for subnet in subnets(docker_client, own)), (address, own)
    for network in probe_networks:
        assert not any(ip in subnet for subnet in subnets(docker_client, network)), (
            address, network, subnets(docker_client, network))


def test_another_project_a_test_step_and_the_bridge_cannot_reach_an_app(
        deployer, docker_client, base_image: str, project_name: str, other_project: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    assert served(caddy, f"{project_name}.test") == "v1"
    [app] = app_containers(docker_client, project_name)
    own = f"pushdock-{project_name}"
    assert list(app.attrs["NetworkSettings"]["Networks"]) == [own]
    ip = address_on(app, own)
    address = f"{ip}:8000"

    other = ensure_project_network(docker_client, other_project, bluegreen.settings.apps_network)
    steps = docker_client.networks.create(
        run_network(other_project, "1"), driver="bridge",
        labels=run_labels(other_project, "1", Role.NETWORK))
    try:
        assert answer(docker_client, base_image, own, address) == "v1"  # A's app answers
        for network in (other, steps.name, "bridge"):
            assert_foreign(docker_client, ip, own, [network])
            got = answer(docker_client, base_image, network, address)
            assert got is None, (network, got, holders(docker_client, ip),
                                 engine_note(docker_client))
    finally:
        steps.remove()
    assert served(caddy, f"{project_name}.test") == "v1"


def test_the_edge_on_the_apps_network_is_connected_to_each_project_network(
        docker_client, base_image: str, project_name: str, apps_network: str) -> None:
    """A Caddy or worker in a container (the compose stack's) reaches the project's apps,
    and again once recreated; an app on the apps network, left by an older deploy, is not
    made an edge."""
    docker_client.networks.create(apps_network, driver="bridge")
    edge = docker_client.containers.run(base_image, ["sleep", "60"], detach=True,
                                        network=apps_network)
    legacy = docker_client.containers.run(
        base_image, ["sleep", "60"], detach=True, network=apps_network,
        labels={"pushdock.role": "app", "pushdock.project": project_name})
    name = ensure_project_network(docker_client, project_name, apps_network)
    assert ensure_project_network(docker_client, project_name, apps_network) == name
    network = docker_client.networks.get(name)
    assert network.attrs["Labels"]["pushdock.edge"] == apps_network
    assert set(network.attrs["Containers"]) == {edge.id}
    assert legacy.id not in network.attrs["Containers"]

    # A recreated edge (`docker compose down` and `up`) is on no project network: a starting
    # worker connects it to every one, before any deploy.
    edge.remove(force=True)
    recreated = docker_client.containers.run(base_image, ["sleep", "60"], detach=True,
                                             network=apps_network)
    assert connect_edges_to_all(docker_client, apps_network) == [name]
    network.reload()
    assert set(network.attrs["Containers"]) == {recreated.id}
    assert connect_edges_to_all(docker_client, apps_network) == []  # nothing left to do


def tcp_connects(container, address: str, port: int) -> bool:
    """Whether a TCP connection from inside `container` to address:port opens."""
    result = container.exec_run(
        ["bash", "-c", f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/{port}' && echo OPEN"])
    return b"OPEN" in result.output


def address_on(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def test_another_project_a_test_step_and_the_bridge_cannot_reach_a_database(
        deployer, docker_client, project_name: str, other_project: str, db_app: SampleRepo,
        postgres_image: str, caddy: CaddyProcess) -> None:
    """Two projects, each with its PostgreSQL named `db`: B's app reaches its own, never
    A's database nor A's web containers; neither does a test step of B nor the bridge."""
    bluegreen, _ = deployer
    db = postgres(postgres_image)
    for project in (project_name, other_project):
        image, sha = image_of(docker_client, db_app, project, "v1")
        bluegreen.deploy(deploy_request(project, image, sha, "1", db))
    assert count(caddy, f"{project_name}.test") == "1"  # through Caddy, A answers
    own = f"pushdock-{project_name}"
    database = address_on(db_container(docker_client, project_name), own)
    [web] = app_containers(docker_client, project_name)
    web_address = address_on(web, own)
    [b_app] = app_containers(docker_client, other_project)
    step_network = docker_client.networks.create(
        run_network(other_project, "2"), driver="bridge",
        labels=run_labels(other_project, "2", Role.NETWORK))
    places = {"a step of B's run": step_network.name, "the default bridge": "bridge",
              "A's own network": own}
    probes = {}
    try:
        for place, network in places.items():
            probes[place] = docker_client.containers.run(
                postgres_image, ["sleep", "300"], detach=True, network=network,
                labels={"pushdock.project": other_project})
        assert tcp_connects(probes["A's own network"], database, 5432)  # the check can succeed
        assert tcp_connects(probes["A's own network"], web_address, 8000)
        assert tcp_connects(b_app, "db", 5432)  # B's own database, by its name
        for place, probe in [("B's app", b_app), *probes.items()]:
            if place == "A's own network":
                continue
            probe.reload()
            where = (place, {name: n["IPAddress"] for name, n in
                             probe.attrs["NetworkSettings"]["Networks"].items()},
                     docker_client.networks.get(own).attrs["IPAM"]["Config"])
            assert_foreign(docker_client, database, own, where[1])
            assert_foreign(docker_client, web_address, own, where[1])
            assert not tcp_connects(probe, database, 5432), (
                *where, holders(docker_client, database), engine_note(docker_client))
            assert not tcp_connects(probe, web_address, 8000), (
                *where, holders(docker_client, web_address), engine_note(docker_client))
    finally:
        for probe in probes.values():
            probe.remove(force=True)
        step_network.remove()
    assert count(caddy, f"{project_name}.test") == "1"

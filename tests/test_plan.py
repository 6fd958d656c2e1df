"""The pure translations: app and step containers, proxy routes."""

from __future__ import annotations

import pytest

from pipeline.config import DeploySpec, Resources, StepSpec
from pipeline.deploy.plan import app_container_spec, route_config
from pipeline.model import Color
from pipeline.names import app_container
from pipeline.runner import deploys, step_failure
from pipeline.steps import StepResult, step_container_spec


def test_app_container() -> None:
    spec = DeploySpec(port=8080, env={"MODE": "prod"}, resources=Resources(cpus=0.5,
                      memory=256 * 1024**2, pids=100))
    kwargs = app_container_spec(project="shop", color=Color.GREEN, image="shop:abc",
                                sha="abc", run_id="7", spec=spec,
                                secrets={"TOKEN": "s"}, network="apps").kwargs()
    assert kwargs["name"] == app_container("shop", Color.GREEN) == "pushdock-shop-green"
    assert kwargs["labels"] == {"pushdock.project": "shop", "pushdock.color": "green",
                                "pushdock.sha": "abc", "pushdock.run": "7",
                                "pushdock.role": "app", "pushdock.process": "web",
                                "pushdock.replica": "1", "pushdock.stop-timeout": "10"}
    assert kwargs["environment"] == {"MODE": "prod", "TOKEN": "s", "PORT": "8080"}
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["nano_cpus"] == 500_000_000
    assert kwargs["mem_limit"] == 256 * 1024**2
    assert kwargs["network"] == "apps"
    assert kwargs["privileged"] is False
    assert "volumes" not in kwargs and "network_mode" not in kwargs
    assert Color.BLUE.other is Color.GREEN and Color.GREEN.other is Color.BLUE


def test_a_generation_is_every_replica_of_every_process() -> None:
    from pipeline.config import ProcessSpec, ReleaseSpec
    from pipeline.deploy.plan import generation_specs, release_container_spec

    worker = ProcessSpec(name="worker", command=("rq", "worker"), replicas=2,
                         resources=Resources(cpus=0.25), stop_timeout=45)
    spec = DeploySpec(port=8000, replicas=2, command=("gunicorn", "app"), processes=(worker,),
                      env={"MODE": "prod"})
    specs = generation_specs(project="shop", color=Color.BLUE, image="shop:abc", sha="abc",
                             run_id="7", spec=spec, secrets={"TOKEN": "s"}, network="apps")
    assert [s.name for s in specs] == [
        "pushdock-shop-blue", "pushdock-shop-blue-web-2", "pushdock-shop-blue-worker-1",
        "pushdock-shop-blue-worker-2"]
    web2, worker2 = specs[1].kwargs(), specs[3].kwargs()
    assert web2["command"] == ["gunicorn", "app"] and web2["environment"]["PORT"] == "8000"
    assert web2["labels"]["pushdock.replica"] == "2"
    assert worker2["command"] == ["rq", "worker"] and "PORT" not in worker2["environment"]
    assert worker2["environment"] == {"MODE": "prod", "TOKEN": "s"}
    assert worker2["labels"]["pushdock.process"] == "worker"
    assert worker2["labels"]["pushdock.stop-timeout"] == "45"
    assert worker2["nano_cpus"] == 250_000_000 and worker2["restart_policy"]
    release = release_container_spec(
        project="shop", color=Color.BLUE, image="shop:abc", sha="abc", run_id="7", spec=spec,
        release=ReleaseSpec(run="migrate"), secrets={"TOKEN": "s"}, network="apps").kwargs()
    assert release["name"] == "pushdock-shop-blue-release"
    assert release["command"] == ["sh", "-c", "migrate"]
    assert release["labels"]["pushdock.role"] == "release" and "restart_policy" not in release
    assert release["environment"] == {"MODE": "prod", "TOKEN": "s"}


def test_step_container_is_confined() -> None:
    step = StepSpec(name="unit", run="make test; rm -rf /", env={"A": "1"}, timeout=5)
    kwargs = step_container_spec(step, image="shop:abc", resources=Resources(pids=64),
                                 env={"CI": "true", "A": "0"}, project="shop", run_id="3",
                                 network="pushdock-run3").kwargs()
    assert kwargs["command"] == ["sh", "-c", "make test; rm -rf /"]
    assert kwargs["environment"] == {"CI": "true", "A": "1"}
    assert kwargs["pids_limit"] == 64
    assert kwargs["mem_limit"] == kwargs["memswap_limit"]
    assert kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["privileged"] is False
    assert kwargs["labels"]["pushdock.run"] == "3"
    forbidden = {"volumes", "mounts", "devices", "network_mode", "pid_mode", "cap_add"}
    assert not forbidden & kwargs.keys()


def test_service_container_is_reached_by_its_name() -> None:
    from pipeline.config import ServiceSpec
    from pipeline.services import service_container_spec

    service = ServiceSpec(name="db", image="postgres:16", env={"POSTGRES_PASSWORD": "x"},
                          command=("postgres", "-c", "fsync=off"))
    kwargs = service_container_spec(service, resources=Resources(memory=128 * 1024**2),
                                    project="shop", run_id="3",
                                    network="pushdock-shop-run3").kwargs()
    assert kwargs["name"] == "pushdock-shop-run3-svc-db"
    assert kwargs["hostname"] == "db"
    assert kwargs["networking_config"] == {"pushdock-shop-run3": {"Aliases": ["db"]}}
    assert kwargs["command"] == ["postgres", "-c", "fsync=off"]
    assert kwargs["labels"] == {"pushdock.project": "shop", "pushdock.run": "3",
                                "pushdock.role": "service"}
    assert kwargs["environment"] == {"POSTGRES_PASSWORD": "x"}
    assert kwargs["mem_limit"] == 128 * 1024**2 and "memswap_limit" not in kwargs
    assert kwargs["security_opt"] == ["no-new-privileges"] and kwargs["privileged"] is False
    forbidden = {"volumes", "mounts", "devices", "network_mode", "pid_mode", "cap_add"}
    assert not forbidden & kwargs.keys()


BALANCING = {"selection_policy": {"policy": "round_robin"}, "try_duration": "5s",
             "try_interval": "250ms"}
PASSIVE = {"passive": {"fail_duration": "2s", "max_fails": 1}}


def test_route() -> None:
    assert route_config("shop", "shop.example.com", "172.18.0.2:8000") == {
        "@id": "pushdock-shop",
        "match": [{"host": ["shop.example.com"]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "172.18.0.2:8000"}],
                    "load_balancing": BALANCING, "health_checks": PASSIVE}],
        "terminal": True,
    }


def test_route_of_replicas() -> None:
    from pipeline.deploy.plan import route_upstream

    static = route_config("shop", "shop.test", "172.18.0.3:8000,172.18.0.2:8000")
    assert static["handle"][0]["upstreams"] == [{"dial": "172.18.0.3:8000"},
                                                {"dial": "172.18.0.2:8000"}]
    assert route_upstream(static) == "172.18.0.2:8000,172.18.0.3:8000"
    dynamic = route_config("shop", "shop.test", "172.18.0.3:8000,172.18.0.2:8000",
                           "udp/127.0.0.1:5353")
    assert dynamic["handle"][0]["dynamic_upstreams"]["port"] == "8000"
    assert dynamic["handle"][0]["load_balancing"] == BALANCING
    with pytest.raises(ValueError):
        route_config("shop", "shop.test", "172.18.0.2:8000,nonsense", "udp/127.0.0.1:53")


def test_failure_reasons() -> None:
    assert step_failure("unit", StepResult(1), memory=1, timeout=1) == \
        "step unit failed with exit code 1"
    assert step_failure("unit", StepResult(None, timed_out=True), memory=1, timeout=600) == \
        "step unit timed out after 10m00s"
    assert step_failure("unit", StepResult(137, out_of_memory=True), memory=64 * 1024**2,
                        timeout=1) == "step unit ran out of memory (limit 64 MiB)"


def test_which_branches_deploy() -> None:
    from pipeline.config import DeployTarget, Project
    from pipeline.model import Forge

    project = Project(name="shop", repo="/r", forge=Forge.GITHUB, webhook_secret="x",
                      deploy=DeployTarget(branch="main", host="shop.test"))
    assert deploys(project, "main")
    assert not deploys(project, "feature/x")
    no_host = Project(name="shop", repo="/r", forge=Forge.GITHUB, webhook_secret="x")
    assert not deploys(no_host, "main")


def test_server_writes_create_only_what_is_missing() -> None:
    from pipeline.deploy.plan import next_server_write, server_config

    ours = server_config(":8000")
    assert next_server_write(None, ":8000")[:2] == ("POST", "/config/")
    assert next_server_write({"admin": {}}, ":8000")[:2] == ("PUT", "/config/apps")
    other = {"apps": {"tls": {}, "http": {"servers": {"other": {"listen": [":81"]}}}}}
    assert next_server_write(other, ":8000") == ("PUT", "/config/apps/http/grace_period",
                                                 "10s")
    other["apps"]["http"]["grace_period"] = "1m"  # the operator's value is kept
    assert next_server_write(other, ":8000") == (
        "PUT", "/config/apps/http/servers/pushdock", ours)
    other["apps"]["http"]["servers"]["pushdock"] = ours
    assert next_server_write(other, ":8000") is None
    assert next_server_write(other, ":9000") == (
        "PATCH", "/config/apps/http/servers/pushdock/listen", [":9000"])
    assert "automatic_https" not in server_config(":443", https=True)


def test_routes_are_found_and_inserted_first() -> None:
    from pipeline.deploy.plan import pushdock_routes, route_insert, route_upstream

    config = {"apps": {"http": {"servers": {"pushdock": {"routes": [
        route_config("shop", "shop.test", "10.0.0.2:8000"),
        {"handle": [{"handler": "static_response"}]}]}}}}}
    routes = pushdock_routes(config)
    assert list(routes) == ["shop"] and route_upstream(routes["shop"]) == "10.0.0.2:8000"
    method, path, _ = route_insert(config, "cart", "cart.test", "10.0.0.3:8000")
    assert (method, path) == ("PUT", "/config/apps/http/servers/pushdock/routes/0")
    empty = {"apps": {"http": {"servers": {"pushdock": {"routes": []}}}}}
    assert route_insert(empty, "cart", "c", "u")[:2] == (
        "POST", "/config/apps/http/servers/pushdock/routes")


def test_caddy_etag() -> None:
    from pipeline.deploy.router import config_etag

    # The value a Caddy 2.6 sent for this body in its ETag trailer.
    assert config_etag("/config/", b'{"admin":{"listen":"127.0.0.1:42019"}}\n') == \
        '"/config/ 48eaae82"'

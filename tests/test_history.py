"""Deployment records as JSON, and choosing what to roll back to (pure)."""

from __future__ import annotations

import json

import pytest

from pipeline.config import DeploySpec, HealthSpec, Resources
from pipeline.deploy.history import resolve_image, rollback_target, spec_for
from pipeline.errors import DeployError
from pipeline.model import Color, Deployment
from pipeline.records.deployments import deployment_from_json, deployment_to_json
from pipeline.spec import parse_spec

SPEC = DeploySpec(port=9000, drain=3, env={"A": "1"}, keep=2,
                  health=HealthSpec(path="", interval=0.5, healthy_after=3, deadline=9),
                  resources=Resources(cpus=0.5, memory=1024, pids=64))


def deployment(sha: str, result: str = "live", spec: DeploySpec | None = SPEC) -> Deployment:
    return Deployment(project="shop", sha=sha, run="1", color=Color.BLUE, image=f"shop:{sha}",
                      trigger="push", started=1.0, finished=2.0, result=result, spec=spec)


def test_records_round_trip_and_old_records_still_read() -> None:
    full = Deployment(project="shop", sha="a" * 40, run="3", color=Color.GREEN,
                      image="shop:aaa", trigger="rollback", started=1.5, finished=4.0,
                      result="failed", reason="why", upstream="10.0.0.2:9000", switched=2.5,
                      host="shop.test", spec=SPEC, health=("health 1: 503",))
    assert deployment_from_json(deployment_to_json(full)) == full
    old = json.dumps({"project": "shop", "sha": "b" * 40, "run": "1", "color": "blue",
                      "image": "shop:bbb", "trigger": "push", "started": 1.0,
                      "finished": 2.0, "result": "live", "reason": "", "upstream": "u"})
    read = deployment_from_json(old)
    assert read.spec is None and read.switched is None and read.health == ()
    assert read.upstream == "u" and read.color is Color.BLUE


def test_rollback_goes_to_the_newest_earlier_good_sha_still_on_the_engine() -> None:
    history = [deployment("c"), deployment("x", "failed"), deployment("b"), deployment("a")]
    everything = {"shop:a", "shop:b", "shop:c", "shop:x"}
    assert rollback_target(history, "c", everything).sha == "b"
    assert rollback_target(history, "c", everything - {"shop:b"}).sha == "a"
    assert rollback_target(history, "c", everything, to="a").sha == "a"
    with pytest.raises(DeployError, match="no successful deployment of x"):
        rollback_target(history, "c", everything, to="x")
    with pytest.raises(DeployError, match="no longer on this engine"):
        rollback_target(history, "c", everything - {"shop:a"}, to="a")
    with pytest.raises(DeployError, match="nothing to roll back to"):
        rollback_target([deployment("c")], "c", everything)


def test_images_are_found_by_sha_prefix() -> None:
    tags = ["shop:abc123", "shop:abd456", "cart:abc999"]
    assert resolve_image("shop", tags, "abc") == ("shop:abc123", "abc123")
    with pytest.raises(DeployError, match="more than one"):
        resolve_image("shop", tags, "ab")
    with pytest.raises(DeployError, match="no image shop:fff"):
        resolve_image("shop", tags, "fff")
    assert resolve_image("shop", tags, None, newest_first=["cart:abc999", "shop:abd456"]) == (
        "shop:abd456", "abd456")


def test_the_spec_of_a_sha_else_the_latest_one() -> None:
    other = DeploySpec(port=1234)
    history = [deployment("b", spec=other), deployment("a"), deployment("z", spec=None)]
    assert spec_for(history, "a") == SPEC
    assert spec_for(history, "new") == other
    assert spec_for([deployment("z", spec=None)], "z") is None


@pytest.mark.parametrize("value", ['""', "null", "~"])
def test_an_empty_health_path_means_a_tcp_connect(value: str) -> None:
    spec = parse_spec(f"deploy:\n  health:\n    path: {value}\n")
    assert spec.deploy.health.path == ""
    assert parse_spec("deploy: {}\n").deploy.health.path == "/healthz"

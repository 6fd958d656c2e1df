"""Which engines keep project networks apart at every moment: the releases before 28.0.1
re-insert their FORWARD jumps (isolation included) each time a network is made."""

from __future__ import annotations

import pytest

from pipeline.engine_isolation import engine_version, isolation_gap
from tests.support import free_port


@pytest.mark.parametrize(("version", "parsed"), [
    ("20.10.24+dfsg1", (20, 10, 24)),  # Debian 12's docker.io
    ("27.5.1", (27, 5, 1)),
    ("28.0.0-rc.1", (28, 0, 0)),
    ("28.0", (28, 0, 0)),
    ("29.1.3", (29, 1, 3)),
])
def test_the_engine_release_is_read_from_docker_info(version: str, parsed: tuple) -> None:
    assert engine_version({"ServerVersion": version}) == parsed


@pytest.mark.parametrize("version", ["20.10.24+dfsg1", "24.0.5", "27.5.1", "28.0.0"])
def test_an_engine_before_28_0_1_is_said_to_let_networks_reach_each_other(version: str) -> None:
    gap = isolation_gap({"ServerVersion": version})
    assert gap is not None and gap.engine_version == version
    assert version in gap.describe() and "upgrade the engine to 28.0.1" in gap.describe()


@pytest.mark.parametrize("info", [{"ServerVersion": "28.0.1"}, {"ServerVersion": "29.0.0"},
                                  {"ServerVersion": "dev"}, {}])
def test_a_fixed_or_unknown_engine_is_not_warned_about(info: dict) -> None:
    assert isolation_gap(info) is None


def test_a_worker_says_at_start_when_its_engine_lets_networks_reach_each_other(
        docker_client, settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pushdock.cli import main

    for name, value in (("CONFIG_DIR", settings.config_dir), ("DATA_DIR", settings.data_dir),
                        ("REDIS_URL", settings.redis_url),
                        # no Caddy answers there: the worker touches no one else's
                        ("CADDY_ADMIN", f"http://127.0.0.1:{free_port()}")):
        monkeypatch.setenv(f"PUSHDOCK_{name}", str(value))
    version = docker_client.version()["Version"]
    release = engine_version({"ServerVersion": version})
    assert release is not None

    assert main(["worker", "--burst"]) == 0
    warning = f"pushdock: warning: the Docker engine {version} lets containers on one network"
    assert (warning in capsys.readouterr().out) == (release < (28, 0, 1))

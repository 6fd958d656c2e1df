"""Release, replicas, processes and the Procfile, read from the repo file (pure)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from pipeline.config import DeploySpec, ProcessSpec, ReleaseSpec, Resources
from pipeline.deploy.history import spec_from_dict
from pipeline.deploy.members import Member, member_lines
from pipeline.errors import ConfigError
from pipeline.procfile import apply_procfile, parse_procfile
from pipeline.spec import parse_spec
from pipeline.upstream import Upstream, join_upstreams, parse_upstreams

APP = """deploy:
  port: 8000
  replicas: 2
  release: python manage.py migrate
  processes:
    worker:
      command: rq worker
      replicas: 3
      resources: {cpus: 0.5, memory: 256m}
      ready: test -f /tmp/ready
      settle: 5s
      stop_timeout: 45s
    clock:
      command: [python, clock.py]
"""


def test_release_replicas_and_processes_are_read() -> None:
    deploy = parse_spec(APP).deploy
    assert deploy.replicas == 2
    assert deploy.release == ReleaseSpec(run="python manage.py migrate", timeout=600.0)
    worker, clock = deploy.processes
    assert worker == ProcessSpec(
        name="worker", command=("sh", "-c", "rq worker"), replicas=3,
        resources=Resources(cpus=0.5, memory=256 * 1024**2), ready="test -f /tmp/ready",
        settle=5.0, stop_timeout=45.0)
    assert clock.command == ("python", "clock.py") and clock.replicas == 1
    long = parse_spec("deploy:\n  release: {run: migrate, timeout: 10m}\n").deploy.release
    assert long == ReleaseSpec(run="migrate", timeout=600.0)
    assert parse_spec("deploy: {port: 80}\n").deploy.release is None


@pytest.mark.parametrize(("text", "error"), [
    ("deploy:\n  replicas: 0\n", ".pushdock.yml:2: deploy.replicas:"),
    ("deploy:\n  release: {run: migrate, retries: 2}\n", "deploy.release.retries: unknown key"),
    ("deploy:\n  release: {timeout: 1m}\n", "deploy.release.run: is required"),
    ("deploy:\n  release: ''\n", "deploy.release.run: is empty"),
    ("deploy:\n  processes:\n    worker: {replicas: 1}\n",
     ".pushdock.yml:3: deploy.processes.worker.command: is required"),
    ("deploy:\n  processes:\n    web: {command: x}\n", 'deploy.processes.web: "web" is not'),
    ("deploy:\n  processes:\n    Big_One: {command: x}\n", "must be lower-case letters"),
    ("deploy:\n  processes:\n    w:\n      command: x\n      port: 80\n",
     ".pushdock.yml:5: deploy.processes.w.port: unknown key"),
])
def test_bad_keys_are_refused_with_their_line(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec(text)
    assert error in str(caught.value)


def test_process_resources_are_held_to_the_ceilings() -> None:
    from pipeline.ceilings import Ceilings

    text = "deploy:\n  processes:\n    worker:\n      command: x\n      resources: {cpus: 8}\n"
    with pytest.raises(ConfigError, match=r":5: deploy.processes.worker.resources.cpus: 8 is "
                                          "more than this server allows"):
        parse_spec(text, ceilings=Ceilings(cpus=2, memory=2**30, pids=512))


PROCFILE = """# the app
web: gunicorn app:app --bind 0.0.0.0:$PORT
release: python manage.py migrate

worker: rq worker high default
"""


def test_a_procfile_fills_what_deploy_does_not_say() -> None:
    types = parse_procfile(PROCFILE)
    assert [(t.name, t.line) for t in types] == [("web", 2), ("release", 3), ("worker", 5)]
    spec = apply_procfile(DeploySpec(), types)
    assert spec.command == ("sh", "-c", "gunicorn app:app --bind 0.0.0.0:$PORT")
    assert spec.release == ReleaseSpec(run="python manage.py migrate")
    assert spec.processes == (ProcessSpec(name="worker",
                                          command=("sh", "-c", "rq worker high default")),)
    declared = DeploySpec(command=("serve",), release=ReleaseSpec(run="migrate"),
                          processes=(ProcessSpec(name="jobs", command=("jobs",)),))
    assert apply_procfile(declared, types) == declared


@pytest.mark.parametrize(("text", "error"), [
    ("web gunicorn\n", "Procfile:1: \"web gunicorn\" is not \"NAME: COMMAND\""),
    ("web: a\nweb: b\n", "Procfile:2: web: given on line 1 already"),
    ("worker:\n", "Procfile:1: worker: the command is empty"),
    ("Worker_1: x\n", "Procfile:1: Worker_1: \"Worker_1\" must be lower-case"),
])
def test_a_bad_procfile_line_is_refused_with_its_line(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_procfile(text)
    assert error in str(caught.value)


def test_a_recorded_generation_comes_back_whole() -> None:
    spec = parse_spec(APP).deploy
    import json

    assert spec_from_dict(json.loads(json.dumps(asdict(spec)))) == spec
    assert spec_from_dict({"port": 8000}) == DeploySpec()  # recorded before processes


def test_upstreams_of_replicas() -> None:
    both = "10.0.0.3:8000,10.0.0.2:8000"
    assert parse_upstreams(both) == (Upstream("10.0.0.3", 8000), Upstream("10.0.0.2", 8000))
    assert join_upstreams(parse_upstreams(both)) == "10.0.0.2:8000,10.0.0.3:8000"
    assert parse_upstreams("10.0.0.2:8000,") == () and parse_upstreams("") == ()


def test_member_lines() -> None:
    members = [Member("web", 1, "a", "running", 0, health="healthy"),
               Member("web", 2, "b", "restarting", 3, health="unhealthy"),
               Member("worker", 1, "c", "running", 0)]
    assert member_lines(members) == [
        "web: 2 replicas — web.1 running (healthy), web.2 restarting (unhealthy, 3 restarts)",
        "worker: 1 replica — worker.1 running"]


def test_a_checkout_with_a_procfile_deploys_its_process_types(tmp_path) -> None:
    from pipeline.config import Project
    from pipeline.runner import load_pipeline
    from tests.support import Lines

    (tmp_path / ".pushdock.yml").write_text("deploy:\n  port: 8000\n  replicas: 2\n")
    (tmp_path / "Procfile").write_text(PROCFILE)
    project = Project(name="shop", repo="/r", webhook_secret="x")
    lines = Lines()
    deploy = load_pipeline(tmp_path, project, lines).deploy
    assert deploy.replicas == 2 and [p.name for p in deploy.processes] == ["worker"]
    assert "Procfile: web, release, worker" in lines.lines
    (tmp_path / "Procfile").unlink()
    (tmp_path / "Procfile").symlink_to("/etc/passwd")
    with pytest.raises(ConfigError, match="Procfile must be a regular file"):
        load_pipeline(tmp_path, project, lines)

"""`pushdock rollback` and `pushdock deploy --sha`: a built image, the same sequence, no build."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.config import HealthSpec
from pipeline.model import DeployResult
from pipeline.records.deployments import deployment_to_json
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import SampleRepo, project_file
from tests.test_bluegreen import app_containers, image_of, request, served
from tests.test_cli import pushdock


@pytest.fixture
def cli_env(deployer, settings: Settings, caddy: CaddyProcess, project_name: str,
            sample_repo: SampleRepo, redis_url: str) -> dict[str, str]:
    project_file(settings.config_dir, project_name, sample_repo.path, secret_var="T_SECRET",
                 host=f"{project_name}.test", extra="secrets:\n  API_KEY: k\n")
    bluegreen, _ = deployer
    return {"PUSHDOCK_REDIS_URL": redis_url, "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
            "PUSHDOCK_CADDY_ADMIN": caddy.admin_url, "PUSHDOCK_PROXY_LISTEN": caddy.proxy_listen,
            "PUSHDOCK_APPS_NETWORK": bluegreen.settings.apps_network, "T_SECRET": "s",
            "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen}


def test_rollback_and_deploy_a_sha_without_a_rebuild(
        deployer, cli_env: dict[str, str], docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    host = f"{project_name}.test"
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    bluegreen.deploy(request(project_name, v1, sha1, "1"))
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    bluegreen.deploy(request(project_name, v2, sha2, "2"))
    images = {image.id for image in docker_client.images.list(
        filters={"label": f"pushdock.project={project_name}"})}

    result = pushdock("rollback", project_name, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert f"rolled back to {sha1[:7]}" in result.stdout
    assert "health 1: 200" in result.stdout  # the same health-gated sequence, shown live
    assert served(caddy, host) == "v1"
    latest = store.deployments.history(project_name)[0]
    assert (latest.sha, latest.trigger, latest.result) == (sha1, "rollback", DeployResult.LIVE)
    assert latest.spec == request(project_name, v1, sha1, "1").spec  # the recorded spec
    assert store.runs.get(latest.run).trigger == "rollback"  # a run, with its log
    [container] = app_containers(docker_client, project_name)
    assert "API_KEY=k" in container.attrs["Config"]["Env"]  # secrets from the project file

    result = pushdock("deploy", project_name, "--sha", sha2[:10], env=cli_env)
    assert result.returncode == 0, result.stderr
    assert served(caddy, host) == "v2"
    assert {image.id for image in docker_client.images.list(
        filters={"label": f"pushdock.project={project_name}"})} == images  # nothing built

    status = pushdock("status", project_name, env=cli_env)
    assert status.returncode == 0
    # blue v1, green v2, blue for the rollback to v1, green for v2 again
    assert f"live green {sha2[:7]}" in status.stdout, status.stdout
    history = [line.split()[0] for line in status.stdout.splitlines()
               if line.startswith("  ") and "run #" in line]
    assert history == [sha2[:7], sha1[:7], sha2[:7], sha1[:7]]
    assert "rollback" in status.stdout

    unknown = pushdock("rollback", project_name, "--to", "0000000", env=cli_env)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == ("pushdock: error: no successful deployment of 0000000 "
                                      "in the history")


def test_a_failed_rollback_keeps_the_live_color(
        deployer, cli_env: dict[str, str], docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    (sample_repo.path / "www" / "healthz").unlink()
    v1, sha1 = image_of(docker_client, sample_repo, project_name, "v1")
    first = request(project_name, v1, sha1, "1")
    bluegreen.deploy(replace(first, spec=replace(
        first.spec, health=replace(first.spec.health, path=""))))
    (sample_repo.path / "www" / "healthz").write_text("ok\n")
    v2, sha2 = image_of(docker_client, sample_repo, project_name, "v2")
    bluegreen.deploy(request(project_name, v2, sha2, "2"))
    # As if v1 had gone live with a health path it cannot pass: its rollback must fail.
    older = store.deployments.history(project_name)[1]
    assert older.sha == sha1 and older.spec is not None
    strict = replace(older, spec=replace(older.spec, health=HealthSpec(interval=0.2,
                                                                       deadline=1)))
    store.redis.lset(f"pushdock:project:{project_name}:deployments", 1,
                     deployment_to_json(strict))
    result = pushdock("rollback", project_name, env=cli_env)
    assert result.returncode == 1
    assert "not healthy within 1s: last probe 404" in result.stderr
    assert served(caddy, f"{project_name}.test") == "v2"
    assert store.deployments.history(project_name)[0].result == DeployResult.FAILED


def test_the_web_service_can_queue_deploys_and_rollbacks(redis_url: str) -> None:
    from workers.queue import enqueue_deploy, enqueue_rollback, job_connection, run_queue

    queue = run_queue(job_connection(redis_url))
    deploy = enqueue_deploy(queue, "shop", "abc1234")
    rollback = enqueue_rollback(queue, "shop", to="def5678")
    assert (deploy.func_name, deploy.args) == ("workers.deploys.execute_deploy",
                                               ("shop", "abc1234", "manual"))
    assert (rollback.func_name, rollback.args) == ("workers.deploys.execute_rollback",
                                                   ("shop", "def5678"))
    assert queue.job_ids == [deploy.id, rollback.id]

"""Accessories on the real engine with a real PostgreSQL (the stand-in of script/standins),
a real Caddy and a real Redis: the data outlives deploys, a rollback, a restart of the
accessory and every cleanup, and the app reaches the database by its name."""

from __future__ import annotations

import urllib.request
from dataclasses import replace

import pytest

from pipeline.config import AccessorySpec, DeploySpec, HealthSpec, ReleaseSpec
from pipeline.deploy.accessories import Accessories
from pipeline.deploy.apps import Apps
from pipeline.deploy.bluegreen import DeployRequest
from pipeline.deploy.recovery import Recovery
from pipeline.errors import DeployError
from pipeline.names import accessory_container, accessory_volume
from pipeline.run_resources import remove_run_resources
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import Lines, SampleRepo
from tests.test_bluegreen import image_of, request

RELEASE = ('psql -v ON_ERROR_STOP=1 -c "create table if not exists visits (version text)" '
           '-c "insert into visits values (\'$(cat /www/index.html)\')"')
PASSWORD = "accessory-secret"


def postgres(image: str) -> AccessorySpec:
    return AccessorySpec(name="db", image=image,
                         env={"POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": "shop"},
                         volumes={"data": "/var/lib/postgresql/data"},
                         ready="pg_isready -U postgres -d shop", deadline=120)


def db_spec() -> DeploySpec:
    return DeploySpec(port=8000, drain=0, health=HealthSpec(interval=0.3, deadline=60),
                      env={"PGHOST": "db", "PGUSER": "postgres", "PGPASSWORD": PASSWORD,
                           "PGDATABASE": "shop"},
                      release=ReleaseSpec(run=RELEASE, timeout=60))


def deploy_request(project: str, image: str, sha: str, run: str, accessory: AccessorySpec,
                   *, release: bool = True) -> DeployRequest:
    return replace(request(project, image, sha, run, db_spec()), accessories=(accessory,),
                   release=release)


def count(caddy: CaddyProcess, host: str) -> str:
    req = urllib.request.Request(f"http://{caddy.proxy_listen}/count", headers={"Host": host})
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.read().decode().strip()


def db_container(docker_client, project: str):
    return docker_client.containers.get(accessory_container(project, "db"))


def test_the_rows_outlive_deploys_a_rollback_and_a_restart(
        deployer, docker_client, project_name: str, db_app: SampleRepo, postgres_image: str,
        store: Store, caddy: CaddyProcess) -> None:
    bluegreen, lines = deployer
    db, host = postgres(postgres_image), f"{project_name}.test"
    images = []
    for version in range(1, 6):
        image, sha = image_of(docker_client, db_app, project_name, f"v{version}")
        images.append((image, sha))
        bluegreen.deploy(deploy_request(project_name, image, sha, str(version), db))
        assert count(caddy, host) == str(version)
        if version == 1:
            first = db_container(docker_client, project_name)
            assert f"accessory db: started {postgres_image} as {first.name} (volumes: " \
                   f"{accessory_volume(project_name, 'db', 'data')})" in lines.lines
    # No deploy made the accessory anew, nor restarted it.
    container = db_container(docker_client, project_name)
    assert container.id == first.id and container.attrs["RestartCount"] == 0
    assert container.attrs["State"]["StartedAt"] == first.attrs["State"]["StartedAt"]
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert container.attrs["HostConfig"]["Privileged"] is False
    assert container.attrs["HostConfig"]["Binds"] in (None, [])
    assert [m["Type"] for m in container.attrs["Mounts"]] == ["volume"]
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [f"pushdock-{project_name}"]

    image, sha = images[1]
    bluegreen.deploy(deploy_request(project_name, image, sha, "6", db, release=False))
    assert count(caddy, host) == "5"  # the rollback ran no release: the rows are all there

    restarted = Accessories(docker_client, Lines()).restart(project_name, db,
                                                            f"pushdock-{project_name}")
    assert restarted.id != first.id  # made anew from the definition...
    assert count(caddy, host) == "5"  # ...on the same volume


def test_a_changed_definition_waits_for_a_restart(
        deployer, docker_client, project_name: str, db_app: SampleRepo, postgres_image: str,
        caddy: CaddyProcess) -> None:
    bluegreen, lines = deployer
    db = postgres(postgres_image)
    image, sha = image_of(docker_client, db_app, project_name, "v1")
    bluegreen.deploy(deploy_request(project_name, image, sha, "1", db))
    first = db_container(docker_client, project_name)
    changed = replace(db, resources=replace(db.resources, memory=256 * 1024**2))
    bluegreen.deploy(deploy_request(project_name, image, sha, "2", changed, release=False))
    assert db_container(docker_client, project_name).id == first.id
    assert any("its definition changed and is not applied by a deploy" in line
               for line in lines.lines)
    states = Accessories(docker_client, Lines()).states(project_name, (changed,))
    assert [(s.name, s.status, s.current) for s in states] == [("db", "running", False)]
    Accessories(docker_client, Lines()).restart(project_name, changed,
                                                f"pushdock-{project_name}")
    again = db_container(docker_client, project_name)
    assert again.attrs["HostConfig"]["Memory"] == 256 * 1024**2
    assert count(caddy, f"{project_name}.test") == "1"


def test_the_cleanups_leave_accessories_and_their_volumes(
        deployer, docker_client, project_name: str, db_app: SampleRepo, postgres_image: str,
        store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    db = postgres(postgres_image)
    image, sha = image_of(docker_client, db_app, project_name, "v1")
    bluegreen.deploy(deploy_request(project_name, image, sha, "1", db))
    container = db_container(docker_client, project_name)
    volume = accessory_volume(project_name, "db", "data")
    apps = Apps(docker_client, bluegreen.settings.apps_network)
    recovery = Recovery(apps, store, bluegreen.router, Lines(), 30.0)
    recovery.reconcile_all()
    apps.remove_releases(project_name)
    remove_run_resources(docker_client, project_name, "1")
    apps.stop_all_but(project_name, keep=(), reporter=Lines())  # every app container goes
    assert apps.containers(project_name) == []
    container.reload()
    assert container.status == "running"
    assert docker_client.volumes.get(volume).name == volume

    # Stopped, it stays stopped; the next deploy starts it again on the same data.
    accessories = Accessories(docker_client, Lines())
    assert accessories.stop(project_name, "db")
    container.reload()
    assert container.status == "exited"
    image2, sha2 = image_of(docker_client, db_app, project_name, "v2")
    bluegreen.deploy(deploy_request(project_name, image2, sha2, "2", db))
    assert db_container(docker_client, project_name).id == container.id
    assert count(caddy, f"{project_name}.test") == "2"

    # Only the explicit removal takes the data.
    assert accessories.remove(project_name, "db") == [container.name, volume]
    assert docker_client.volumes.list(filters={"name": volume}) == []


def test_an_accessory_that_never_gets_ready_fails_the_deploy_first(
        deployer, docker_client, project_name: str, db_app: SampleRepo, postgres_image: str,
        store: Store) -> None:
    bluegreen, lines = deployer
    broken = replace(postgres(postgres_image), ready="false", deadline=3)
    image, sha = image_of(docker_client, db_app, project_name, "v1")
    with pytest.raises(DeployError) as caught:
        bluegreen.deploy(deploy_request(project_name, image, sha, "1", broken))
    assert str(caught.value).startswith("accessory db was not ready within 3s (`false`")
    assert "nothing new started, nothing live" in str(caught.value)
    assert store.live.get(project_name) is None
    assert not any(line.startswith("── release") for line in lines.lines)


def project_file_with(settings, project: str, image: str, memory: str = "512m") -> None:
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / f"{project}.yml").write_text(f"""repo: /srv/git/{project}.git
webhook_secret: s
accessories:
  db:
    image: {image}
    env: {{POSTGRES_PASSWORD: {PASSWORD}, POSTGRES_DB: shop}}
    volumes: {{data: /var/lib/postgresql/data}}
    ready: pg_isready -U postgres -d shop
    resources: {{memory: {memory}}}
""")


def test_the_accessory_command_and_status(
        docker_client, project_name: str, postgres_image: str, settings, apps_network: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pushdock.cli import main
    from pushdock.status import accessory_lines

    project_file_with(settings, project_name, postgres_image)
    for name, value in (("CONFIG_DIR", settings.config_dir), ("REDIS_URL", settings.redis_url),
                        ("APPS_NETWORK", apps_network)):
        monkeypatch.setenv(f"PUSHDOCK_{name}", str(value))
    apps = Apps(docker_client, apps_network)
    volume = accessory_volume(project_name, "db", "data")

    assert main(["accessory", project_name, "db", "start"]) == 0
    assert f"pushdock: {project_name}: accessory db is running" in capsys.readouterr().out
    assert accessory_lines(settings, apps, project_name) == [
        f"  accessory db: running ({postgres_image})"]
    assert main(["accessory", project_name, "db", "logs", "--tail", "50"]) == 0
    assert "database system is ready to accept connections" in capsys.readouterr().out

    project_file_with(settings, project_name, postgres_image, memory="256m")
    assert accessory_lines(settings, apps, project_name) == [
        f"  accessory db: running ({postgres_image}); its definition changed: "
        f"`pushdock accessory {project_name} db restart` applies it"]
    assert main(["accessory", project_name, "db", "restart"]) == 0
    assert db_container(docker_client, project_name).attrs["HostConfig"]["Memory"] == 256 * 1024**2
    assert accessory_lines(settings, apps, project_name) == [
        f"  accessory db: running ({postgres_image})"]

    assert main(["accessory", project_name, "db", "remove"]) == 1
    err = capsys.readouterr().err
    assert f"deletes its container and its volumes ({volume})" in err and "--yes" in err
    assert docker_client.volumes.get(volume).name == volume
    assert main(["accessory", project_name, "cache", "stop"]) == 1
    assert "has no accessory cache (its accessories: db)" in capsys.readouterr().err
    assert main(["accessory", project_name, "db", "remove", "--yes"]) == 0
    assert docker_client.volumes.list(filters={"name": volume}) == []
    assert accessory_lines(settings, apps, project_name) == [
        f"  accessory db: missing ({postgres_image})"]

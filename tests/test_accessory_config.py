"""Accessories in the project file, their names, volumes and container (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import names
from pipeline.accessories import accessory_container_spec, accessory_volumes, definition_digest
from pipeline.config import AccessorySpec, BackupSpec, Resources
from pipeline.errors import ConfigError
from pipeline.names import Role
from pipeline.projects import parse_project
from pipeline.spec import parse_spec

HEAD = "repo: /srv/git/shop.git\nwebhook_secret: s\n"
SHOP = HEAD + """accessories:
  db:
    image: postgres:15
    env:
      POSTGRES_PASSWORD: ${SHOP_DB_PASSWORD}
    volumes: {data: /var/lib/postgresql/data}
    ready: pg_isready -U postgres
    resources: {memory: 1g}
    backup:
      run: pg_dumpall -U postgres
      restore: psql -U postgres
      every: 24h
      keep: 3
      ext: sql
  cache:
    image: pushdock-standin/redis:bookworm
    command: [redis-server, --appendonly, "yes"]
"""


def shop(text: str = SHOP) -> tuple[AccessorySpec, ...]:
    return parse_project(text, Path("pipelines.d/shop.yml"),
                         {"SHOP_DB_PASSWORD": "pw"}).accessories


def test_accessories_are_read_with_their_environment_and_backup() -> None:
    db, cache = shop()
    assert db == AccessorySpec(
        name="db", image="postgres:15", env={"POSTGRES_PASSWORD": "pw"},
        volumes={"data": "/var/lib/postgresql/data"}, ready="pg_isready -U postgres",
        resources=Resources(memory=1024**3),
        backup=BackupSpec(run="pg_dumpall -U postgres", restore="psql -U postgres",
                          every=86400.0, keep=3, ext="sql"))
    assert cache.command == ("redis-server", "--appendonly", "yes")
    assert cache.volumes == {} and cache.backup is None and cache.ready is None
    assert parse_project(HEAD, Path("shop.yml")).accessories == ()


def test_a_backup_needs_only_its_command() -> None:
    (db,) = shop(HEAD + "accessories:\n  db:\n    image: postgres:15\n"
                        "    backup: {run: pg_dumpall -U postgres}\n")
    assert db.backup == BackupSpec(run="pg_dumpall -U postgres", restore=None, every=None,
                                   keep=7, ext="dump")


@pytest.mark.parametrize(("body", "error"), [
    ("  db: {env: {A: b}}\n", "shop.yml:4: accessories.db.image: is required"),
    ("  db: {image: postgres:15, ports: ['5432:5432']}\n",
     "shop.yml:4: accessories.db.ports: unknown key"),
    ("  db:\n    image: x\n    volumes: {/srv/pg: /var/lib/postgresql/data}\n",
     'shop.yml:6: accessories.db.volumes./srv/pg: "/srv/pg" must be a volume name'),
    ("  db:\n    image: x\n    volumes: {./pg: /data}\n", "host paths are not allowed"),
    ("  db:\n    image: x\n    volumes: ['/srv/pg:/var/lib/postgresql/data']\n",
     "shop.yml:6: accessories.db.volumes: must map volume names to paths in the container"),
    ("  db:\n    image: x\n    volumes: {data: var/lib}\n",
     "accessories.db.volumes.data: must be an absolute path in the container"),
    ("  db:\n    image: x\n    volumes: {data: '/srv:/data'}\n",
     "accessories.db.volumes.data: must be an absolute path"),
    ("  db:\n    image: x\n    volumes: {a: /data, b: /data/}\n",
     "accessories.db.volumes.a: /data is the path of another volume too"),
    ("  Big_DB: {image: x}\n", 'shop.yml:4: accessories.Big_DB: "Big_DB" must be lower-case'),
    ("  blue: {image: x}\n", 'accessories.blue: "blue" is not an accessory name here'),
    ("  green-release: {image: x}\n", "is not an accessory name here"),
    ("  run12: {image: x}\n", "is not an accessory name here"),
    ("  db: {image: '--privileged'}\n", 'accessories.db.image: "--privileged" is not an image'),
    ("  db:\n    image: x\n    backup: {every: 1h}\n",
     "shop.yml:6: accessories.db.backup.run: is required"),
    ("  db:\n    image: x\n    backup: {run: dump, keep: 0}\n",
     "accessories.db.backup.keep: must be at least 1"),
    ("  db:\n    image: x\n    backup: {run: dump, every: 0s}\n",
     "accessories.db.backup.every: must be greater than 0"),
    ("  db:\n    image: x\n    backup: {run: dump, ext: .sql}\n",
     'accessories.db.backup.ext: ".sql" must be a file extension'),
    ("  db:\n    image: x\n    backup: {run: dump, ext: ../x}\n", "must be a file extension"),
    ("  db:\n    image: x\n    resources: {memory: lots}\n",
     "accessories.db.resources.memory:"),
    ("  db:\n    image: x\n    env: {PW: '${NOT_SET}'}\n",
     "shop.yml:6: accessories.db.env.PW: ${NOT_SET} is not set"),
])
def test_wrong_accessories_are_refused_at_their_line(body: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        shop(HEAD + "accessories:\n" + body)
    assert error in str(caught.value)


def test_the_repository_cannot_declare_accessories() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec("deploy: {port: 80}\naccessories:\n  db: {image: postgres:15}\n")
    assert str(caught.value).startswith(".pushdock.yml:2: accessories: accessories are "
                                        "declared in the project file on the server")


def test_names_and_labels_of_an_accessory() -> None:
    assert names.accessory_container("shop", "db") == "pushdock-shop-db"
    assert names.accessory_volume("shop", "db", "data") == "pushdock-shop-db-data"
    labels = names.accessory_labels("shop", "db")
    assert labels == {"pushdock.project": "shop", "pushdock.role": "accessory",
                      "pushdock.accessory": "db"}
    assert names.role_of_labels(labels) is Role.ACCESSORY
    assert names.accessory_of_labels(labels) == "db"
    assert names.accessory_of_labels(names.app_labels("shop", names.Color.BLUE, "a", "1")) \
        is None
    assert names.accessory_filters("shop", "db") == [
        "pushdock.role=accessory", "pushdock.project=shop", "pushdock.accessory=db"]
    # An accessory is never an app container: the app's cleanups select by role.
    assert "pushdock.role=accessory" not in names.app_filters("shop")


def test_the_container_of_an_accessory() -> None:
    db, _ = shop()
    kwargs = accessory_container_spec("shop", db, "pushdock-shop").kwargs()
    assert kwargs["name"] == "pushdock-shop-db"
    assert kwargs["network"] == "pushdock-shop"
    assert kwargs["networking_config"] == {"pushdock-shop": {"Aliases": ["db"]}}
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["mounts"] == [{"Type": "volume", "Source": "pushdock-shop-db-data",
                                 "Target": "/var/lib/postgresql/data", "ReadOnly": False}]
    assert kwargs["privileged"] is False and kwargs["security_opt"] == ["no-new-privileges"]
    assert "volumes" not in kwargs and "binds" not in kwargs
    assert kwargs["mem_limit"] == 1024**3 and kwargs["environment"] == {
        "POSTGRES_PASSWORD": "pw"}
    assert kwargs["labels"]["pushdock.role"] == "accessory"
    (volume,) = accessory_volumes("shop", db)
    assert volume.name == "pushdock-shop-db-data" and volume.labels["pushdock.volume"] == "data"


def test_the_definition_digest_changes_with_the_container_not_the_backup() -> None:
    db, _ = shop()
    other_backup = shop(SHOP.replace("keep: 3", "keep: 9"))[0]
    other_image = shop(SHOP.replace("postgres:15", "postgres:16"))[0]
    other_env = parse_project(SHOP, Path("shop.yml"), {"SHOP_DB_PASSWORD": "x"}).accessories[0]
    assert definition_digest(db) == definition_digest(other_backup)
    assert definition_digest(db) != definition_digest(other_image)
    assert definition_digest(db) != definition_digest(other_env)

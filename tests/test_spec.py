from __future__ import annotations

import pytest

from pipeline.ceilings import Ceilings
from pipeline.config import PipelineSpec
from pipeline.errors import ConfigError
from pipeline.spec import MAX_SPEC_BYTES, parse_spec, read_spec_file

FULL = """\
build:
  dockerfile: docker/Dockerfile.prod
  context: .
  args: {VERSION: 3, DEBUG: false}
test:
  resources: {cpus: 0.5, memory: 256m, pids: 128}
  steps:
    - name: unit
      run: pytest -q
      env: {DATABASE_URL: "postgres://db/x"}
      timeout: 10m
    - name: lint
      run: ruff check .
      timeout: 90s
deploy:
  port: 8080
  health: {path: /up, interval: 500ms, timeout: 2s, healthy_after: 3, deadline: 30s}
  drain: 5s
  env: {MODE: production}
  resources: {cpus: 2, memory: 1g}
  keep: 3
"""


def test_empty_file_gives_defaults() -> None:
    assert parse_spec("") == PipelineSpec()
    spec = parse_spec("{}")
    assert spec.build.dockerfile == "Dockerfile"
    assert spec.deploy.port == 8000
    assert spec.deploy.health.path == "/healthz"
    assert spec.test.resources.memory == 512 * 1024**2


def test_full_file() -> None:
    spec = parse_spec(FULL)
    assert spec.build.dockerfile == "docker/Dockerfile.prod"
    assert spec.build.args == {"VERSION": "3", "DEBUG": "false"}
    assert spec.test.resources.cpus == 0.5
    assert spec.test.resources.memory == 256 * 1024**2
    assert spec.test.resources.pids == 128
    assert [s.name for s in spec.test.steps] == ["unit", "lint"]
    assert spec.test.steps[0].timeout == 600
    assert spec.test.steps[1].timeout == 90
    assert spec.test.steps[0].env == {"DATABASE_URL": "postgres://db/x"}
    assert spec.deploy.port == 8080
    assert spec.deploy.health.interval == 0.5
    assert spec.deploy.health.healthy_after == 3
    assert spec.deploy.drain == 5
    assert spec.deploy.resources.memory == 1024**3
    assert spec.deploy.keep == 3


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_spec(text)
    return str(caught.value)


def test_bad_duration_names_file_line_and_key() -> None:
    text = FULL.replace("timeout: 90s", 'timeout: "10 minutes"')
    assert error_of(text) == ('.pushdock.yml:14: test.steps[1].timeout: "10 minutes" is not a '
                              "duration (use 90s, 10m, 1h)")


def test_unknown_key_is_an_error_with_its_line() -> None:
    message = error_of("build:\n  dockerfile: Dockerfile\n  privileged: true\n")
    assert message.startswith(".pushdock.yml:3: build.privileged: unknown key")


def test_unknown_top_level_key() -> None:
    assert error_of("steps: []\n").startswith(".pushdock.yml:1: steps: unknown key")


@pytest.mark.parametrize("key", ["volumes", "privileged", "network_mode", "devices", "pid"])
def test_steps_cannot_ask_for_host_access(key: str) -> None:
    message = error_of(f"test:\n  steps:\n    - run: make\n      {key}: x\n")
    assert message.startswith(f".pushdock.yml:4: test.steps[0].{key}: unknown key")


def test_invalid_yaml_has_a_line() -> None:
    message = error_of("test:\n  steps:\n    - run: [unclosed\n")
    # The parser finds the list unclosed where the file ends: after line 3, on line 4.
    assert message == (".pushdock.yml:4: invalid YAML: expected ',' or ']', but got "
                       "'<stream end>'")


def test_unsafe_tags_are_rejected() -> None:
    message = error_of("build:\n  context: !!python/object/apply:os.system ['id']\n")
    assert message.startswith(".pushdock.yml:2: build.context: tag tag:yaml.org,2002:python/")
    message = error_of("deploy:\n  port: !!python/name:os.system\n")
    assert message.startswith(".pushdock.yml:2: deploy.port:")


def test_missing_run_and_paths_outside_the_repo() -> None:
    assert error_of("test:\n  steps:\n    - name: a\n").startswith(
        ".pushdock.yml:3: test.steps[0].run: is required")
    assert "inside the repository" in error_of("build:\n  context: ../other\n")
    assert "inside the repository" in error_of("build:\n  dockerfile: /etc/passwd\n")


def test_duplicate_step_names_and_keys() -> None:
    text = "test:\n  steps:\n    - {name: a, run: x}\n    - {name: a, run: y}\n"
    assert "used by an earlier step" in error_of(text)
    assert "duplicate key" in error_of("deploy:\n  port: 1\n  port: 2\n")


def test_wrong_types() -> None:
    assert error_of("deploy:\n  port: eighty\n") == \
        '.pushdock.yml:2: deploy.port: "eighty" is not a whole number'
    assert error_of("deploy:\n  port: 70000\n").startswith(".pushdock.yml:2: deploy.port")
    assert error_of("test:\n  steps: {run: x}\n").startswith(".pushdock.yml:2: test.steps: must")
    assert "not a size" in error_of("test:\n  resources: {memory: lots}\n")


SERVICES = """\
build:
  target: test
test:
  services:
    db:
      image: postgres:16
      env: {POSTGRES_PASSWORD: test}
      ready: pg_isready -U postgres
      deadline: 30s
    cache:
      image: registry.local:5000/redis:7
      command: [redis-server, --save, ""]
  steps:
    - name: migrate
      image: flyway/flyway:10
      workdir: /flyway
      run: flyway migrate
"""


def test_services_steps_images_and_target() -> None:
    spec = parse_spec(SERVICES)
    assert spec.build.target == "test"
    db, cache = spec.test.services
    assert (db.name, db.image, db.env, db.ready, db.deadline, db.command) == (
        "db", "postgres:16", {"POSTGRES_PASSWORD": "test"}, "pg_isready -U postgres", 30, None)
    assert cache.command == ("redis-server", "--save", "")
    assert cache.ready is None and cache.deadline == 60
    [step] = spec.test.steps
    assert (step.image, step.workdir) == ("flyway/flyway:10", "/flyway")


def test_service_errors() -> None:
    assert error_of("test:\n  services:\n    db: {env: {}}\n").startswith(
        ".pushdock.yml:3: test.services.db.image: is required")
    assert error_of("test:\n  services:\n    Db_1: {image: x}\n").startswith(
        ".pushdock.yml:3: test.services.Db_1: \"Db_1\" must be lower-case")
    assert error_of("test:\n  services:\n    db: {image: x, privileged: true}\n").startswith(
        ".pushdock.yml:3: test.services.db.privileged: unknown key")
    assert error_of("test:\n  services:\n    db: {image: x, volumes: [/:/host]}\n").startswith(
        ".pushdock.yml:3: test.services.db.volumes: unknown key")
    assert "is not an image name" in error_of(
        "test:\n  services:\n    db: {image: --privileged}\n")
    assert "must be an absolute path" in error_of(
        "test:\n  steps:\n    - {run: x, workdir: src}\n")


def nested_aliases(levels: int, width: int) -> str:
    """The "billion laughs": each list holds `width` aliases of the list before it."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_before_they_expand() -> None:
    # Nine levels of nine would stand for 9**9 values. The aliases of l1 stand for 9 * 10
    # values, those of l2 for 9 * 91: l3's first alias, standing for 820 more, is refused.
    assert error_of(nested_aliases(9, 9)) == (
        ".pushdock.yml:4: l3[0]: aliases stand for more than 1000 values (at *l2); "
        "write the values out instead")


def test_an_alias_inside_the_value_it_names_is_refused() -> None:
    assert error_of("test:\n  steps: &steps\n    - run: x\n    - *steps\n") == (
        ".pushdock.yml:4: test.steps[1]: alias *steps is inside the value it names")


def test_nesting_past_the_limit_is_refused() -> None:
    assert error_of("build:\n  args: " + "[" * 100 + "]" * 100 + "\n") == (
        ".pushdock.yml:2: maps and lists are nested more than 64 deep")


def test_aliases_within_the_budget_are_read_as_their_values() -> None:
    spec = parse_spec("test:\n  steps:\n"
                      "    - {run: a, env: &env {LANG: C.UTF-8, TZ: UTC}}\n"
                      "    - {run: b, env: *env}\n"
                      "deploy:\n  env: *env\n")
    assert [step.env for step in spec.test.steps] == [{"LANG": "C.UTF-8", "TZ": "UTC"}] * 2
    assert spec.deploy.env == {"LANG": "C.UTF-8", "TZ": "UTC"}


def test_a_service_image_may_not_be_empty() -> None:
    assert error_of('test:\n  services:\n    db: {image: ""}\n') == (
        '.pushdock.yml:3: test.services.db.image: "" is not an image name')


def test_unknown_keys_name_every_key_allowed_in_order() -> None:
    assert error_of("deploy:\n  health: {retries: 3}\n") == (
        ".pushdock.yml:2: deploy.health.retries: unknown key (allowed here: path, interval, "
        "timeout, healthy_after, deadline)")
    assert error_of("test:\n  services:\n    db: {image: x, ports: [1]}\n") == (
        ".pushdock.yml:3: test.services.db.ports: unknown key (allowed here: image, env, "
        "command, ready, deadline)")


def test_build_secrets_are_names() -> None:
    spec = parse_spec("build:\n  secrets: [NPM_TOKEN, API_KEY]\n")
    assert spec.build.secrets == ("NPM_TOKEN", "API_KEY")
    assert parse_spec("").build.secrets == ()
    assert error_of("build:\n  secrets: [npm-token]\n").startswith(
        '.pushdock.yml:2: build.secrets: "npm-token" is not a secret\'s name')


def test_ceilings_refuse_more_than_the_server_allows() -> None:
    ceilings = Ceilings(cpus=2, memory=4 * 1024**3, pids=1024)
    text = "test:\n  resources:\n    cpus: 1\n    memory: 64g\n"
    assert parse_spec(text).test.resources.memory == 64 * 1024**3  # no ceilings: as written
    with pytest.raises(ConfigError) as caught:
        parse_spec(text, ceilings=ceilings)
    assert str(caught.value) == (".pushdock.yml:4: test.resources.memory: 64g is more than "
                                 "this server allows (PUSHDOCK_MAX_MEMORY=4g)")
    with pytest.raises(ConfigError, match=r"^\.pushdock\.yml:2: deploy\.resources\.pids: "
                                          r"1000000 is more .*PUSHDOCK_MAX_PIDS=1024"):
        parse_spec("deploy:\n  resources: {pids: 1000000}\n", ceilings=ceilings)
    with pytest.raises(ConfigError, match=r"test\.resources\.cpus: 3 .*PUSHDOCK_MAX_CPUS=2"):
        parse_spec("test:\n  resources: {cpus: 3}\n", ceilings=ceilings)
    allowed = parse_spec("test:\n  resources: {cpus: 2, memory: 4g, pids: 1024}\n",
                         ceilings=ceilings)
    assert allowed.test.resources.pids == 1024


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path) -> None:
    padding = "# " + "x" * 77 + "\n"  # 80 bytes a line
    at_limit = "build: {}\n" + padding * ((MAX_SPEC_BYTES - 10) // 80)
    at_limit += "#" * (MAX_SPEC_BYTES - len(at_limit) - 1) + "\n"
    assert len(at_limit) == MAX_SPEC_BYTES
    assert parse_spec(at_limit).build.dockerfile == "Dockerfile"
    assert error_of(at_limit + "#\n") == ".pushdock.yml: the file is larger than 256 KiB"
    huge = tmp_path / ".pushdock.yml"
    huge.write_text(at_limit + padding * 100_000)  # 8 MB
    assert len(read_spec_file(huge)) == MAX_SPEC_BYTES + 1

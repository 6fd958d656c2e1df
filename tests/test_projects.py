from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config_rules import check_repo_url
from pipeline.errors import ConfigError, UnknownProject
from pipeline.model import Forge
from pipeline.projects import (
    branch_matches,
    interpolate,
    load_project,
    load_projects,
    parse_project,
)

SHOP = """\
project: shop
repo: https://github.com/acme/shop.git
forge: github
webhook_secret: ${SHOP_WEBHOOK_SECRET}
branches: [main, "feature/*"]
deploy:
  branch: main
  host: shop.example.com
secrets:
  DATABASE_URL: ${SHOP_DATABASE_URL}
"""
ENV = {"SHOP_WEBHOOK_SECRET": "hush", "SHOP_DATABASE_URL": "postgres://u:p@db/shop"}


def parse(text: str, env: dict[str, str] | None = None, name: str = "shop"):
    return parse_project(text, Path(f"pipelines.d/{name}.yml"), ENV if env is None else env)


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return str(caught.value)


def test_the_design_example() -> None:
    project = parse(SHOP)
    assert project.name == "shop"
    assert project.forge is Forge.GITHUB
    assert project.webhook_secret == "hush"
    assert project.branches == ("main", "feature/*")
    assert project.deploy.host == "shop.example.com"
    assert project.deploy.branch == "main"
    assert project.secrets == {"DATABASE_URL": "postgres://u:p@db/shop"}
    assert project.pipeline is None
    assert project.timeout == 3600 and project.supersede is True


def test_run_timeout_and_supersede_switch() -> None:
    project = parse(SHOP + "timeout: 20m\nsupersede: false\n")
    assert project.timeout == 1200 and project.supersede is False
    assert "must be true or false" in error_of(SHOP + "supersede: sometimes\n")
    assert error_of(SHOP + "timeout: soon\n").startswith("pipelines.d/shop.yml:11: timeout:")


def test_missing_variable_names_line_and_variable() -> None:
    assert error_of(SHOP, {"SHOP_WEBHOOK_SECRET": "x"}) == (
        "pipelines.d/shop.yml:10: secrets.DATABASE_URL: ${SHOP_DATABASE_URL} is not set in "
        "the environment")


def test_interpolation_and_escape() -> None:
    assert interpolate("a-${X}-$${X}", {"X": "1"}) == "a-1-${X}"


def test_secret_is_required() -> None:
    text = SHOP.replace("webhook_secret: ${SHOP_WEBHOOK_SECRET}\n", "")
    assert "webhook_secret: is required" in error_of(text)


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/x", "ext::sh -c touch% /tmp/x",
                                 "relative/path", "fd::3"])
def test_option_like_or_transport_urls_are_refused(url: str) -> None:
    assert not check_repo_url(url)
    assert "is not a git URL" in error_of(SHOP.replace("https://github.com/acme/shop.git", url))


@pytest.mark.parametrize("url", ["https://github.com/acme/shop.git", "git@github.com:acme/x.git",
                                 "ssh://git@host/x.git", "file:///srv/git/x.git", "/srv/git/x"])
def test_plain_urls_are_taken(url: str) -> None:
    assert check_repo_url(url)


def test_name_must_match_the_file_and_be_simple() -> None:
    assert "must match the file name" in error_of(SHOP.replace("project: shop", "project: cart"))
    assert "lower-case" in error_of(SHOP.replace("project: shop", "project: Shop_1"))


def test_unknown_forge_and_key() -> None:
    assert 'forge: "sourcehut" is not one of' in error_of(SHOP.replace("github\n", "sourcehut\n"))
    assert error_of(SHOP + "colour: red\n").startswith("pipelines.d/shop.yml:11: colour: unknown")


def test_inline_pipeline_is_parsed_with_the_project_file_lines() -> None:
    project = parse(SHOP + "pipeline:\n  deploy:\n    port: 9000\n")
    assert project.pipeline is not None and project.pipeline.deploy.port == 9000
    message = error_of(SHOP + "pipeline:\n  deploy:\n    port: lots\n")
    assert message.startswith("pipelines.d/shop.yml:13: pipeline.deploy.port:")


def test_branch_globs() -> None:
    patterns = ("main", "feature/*")
    assert branch_matches(patterns, "main")
    assert branch_matches(patterns, "feature/login")
    assert not branch_matches(patterns, "mainline")
    assert not branch_matches(patterns, "release/1")


def test_loading_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "shop.yml").write_text(SHOP)
    (tmp_path / "broken.yml").write_text("project: broken\nrepo: [\n")
    with pytest.raises(UnknownProject):
        load_project(tmp_path, "nothing", ENV)
    with pytest.raises(UnknownProject):
        load_project(tmp_path, "../etc/passwd", ENV)
    assert load_project(tmp_path, "shop", ENV).name == "shop"
    projects, errors = load_projects(tmp_path, ENV)
    assert [p.name for p in projects] == ["shop"]
    assert len(errors) == 1 and str(errors[0]).startswith(f"{tmp_path}/broken.yml:")


def test_tags_and_commit_status_keys() -> None:
    project = parse(SHOP)
    assert (project.tags, project.status_token, project.status_api) == (False, "", "")
    project = parse(SHOP + "tags: true\nstatus_token: ${TOKEN}\n"
                    "status_api: http://127.0.0.1:9/api/\n", {**ENV, "TOKEN": "ghp_x"})
    assert project.tags is True
    assert project.status_token == "ghp_x" and project.status_api == "http://127.0.0.1:9/api"
    assert "tags: \"yes\" is not true or false" in error_of(SHOP + 'tags: "yes"\n')
    assert "status_api: \"ftp://x\" is not an http(s) URL" in error_of(
        SHOP + "status_api: ftp://x\n")


def test_a_status_token_needs_a_forge_with_a_status_api() -> None:
    generic = SHOP.replace("forge: github", "forge: generic")
    assert "generic git server has no commit status API" in error_of(generic + "status_token: t\n")
    local = SHOP.replace("https://github.com/acme/shop.git", "/srv/shop")
    assert "cannot tell the owner and repository" in error_of(local + "status_token: t\n")
    nested = SHOP.replace("acme/shop.git", "acme/sub/shop.git")
    assert "is not <owner>/<repository> on github" in error_of(nested + "status_token: t\n")
    gitlab = nested.replace("forge: github", "forge: gitlab")
    assert parse(gitlab + "status_token: t\n").status_token == "t"


def test_project_files_are_parsed_again_only_when_they_change(tmp_path: Path) -> None:
    from pipeline.projects import ProjectFiles

    env = dict(ENV)
    files = ProjectFiles(tmp_path, env)
    (tmp_path / "shop.yml").write_text(SHOP)
    first = files.load("shop")
    assert files.load("shop") is first  # unchanged: the parsed project is reused
    env["SHOP_WEBHOOK_SECRET"] = "rotated"
    assert files.load("shop").webhook_secret == "rotated"
    (tmp_path / "shop.yml").write_text(SHOP.replace("[main, \"feature/*\"]", "[main]"))
    assert files.load("shop").branches == ("main",)
    (tmp_path / "shop.yml").write_text(SHOP + "colour: red\n")
    with pytest.raises(ConfigError, match="colour: unknown"):
        files.load("shop")
    (tmp_path / "cart.yml").write_text(SHOP.replace("project: shop", "project: cart"))
    projects, errors = files.load_all()
    assert [p.name for p in projects] == ["cart"] and len(errors) == 1
    with pytest.raises(UnknownProject):
        files.load("nope")
    with pytest.raises(UnknownProject):
        files.load("../shop")


def test_a_project_file_whose_stat_is_unchanged_is_not_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import projects

    monkeypatch.setattr(projects, "RACY_SECONDS", 0.0)  # else a new file is read each time
    env = dict(ENV)
    files = projects.ProjectFiles(tmp_path, env)
    (tmp_path / "shop.yml").write_text(SHOP)
    reads: list[Path] = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: reads.append(path) or read_bytes(path))
    first = files.load("shop")
    assert files.load("shop") is first and files.load_all()[0] == [first]
    assert len(reads) == 1
    env["SHOP_WEBHOOK_SECRET"] = "rotated"  # the variables are still looked at on each use
    assert files.load("shop").webhook_secret == "rotated" and len(reads) == 1
    (tmp_path / "shop.yml").unlink()
    with pytest.raises(UnknownProject):
        files.load("shop")


def test_a_rewrite_that_leaves_size_and_mtime_is_seen(tmp_path: Path) -> None:
    import os

    from pipeline.projects import ProjectFiles

    files = ProjectFiles(tmp_path, dict(ENV))
    path = tmp_path / "shop.yml"
    path.write_text(SHOP)
    assert files.load("shop").deploy.host == "shop.example.com"
    before = os.stat(path)
    path.write_text(SHOP.replace("shop.example.com", "cart.example.com"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` leaves it
    assert os.stat(path).st_size == before.st_size
    assert files.load("shop").deploy.host == "cart.example.com"


def test_an_unknown_key_names_every_key_of_a_project_file() -> None:
    assert error_of(SHOP + "colour: red\n") == (
        "pipelines.d/shop.yml:11: colour: unknown key (allowed here: project, repo, forge, "
        "webhook_secret, branches, tags, deploy, secrets, pipeline, status_token, status_api, "
        "timeout, supersede, notify, schedules, accessories)")
    assert error_of(SHOP.replace("  host:", "  hosts:")) == (
        "pipelines.d/shop.yml:8: deploy.hosts: unknown key (allowed here: branch, host, approval)")


def test_an_empty_or_missing_secret_and_repo() -> None:
    for secret in ('""', "null"):
        text = SHOP.replace("${SHOP_WEBHOOK_SECRET}", secret)
        assert error_of(text) == ("pipelines.d/shop.yml:4: webhook_secret: is required: "
                                  "webhooks are only taken when signed")
    assert error_of(SHOP.replace("repo: https://github.com/acme/shop.git\n", "")) == (
        "pipelines.d/shop.yml:1: repo: is required")

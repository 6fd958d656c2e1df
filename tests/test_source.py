from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Project
from pipeline.errors import CheckoutError
from pipeline.model import Forge
from pipeline.source import Sources
from tests.support import Lines, SampleRepo


def project_for(repo: SampleRepo) -> Project:
    return Project(name="shop", repo=str(repo.path), forge=Forge.GITHUB, webhook_secret="x")


def test_checks_out_exactly_the_pushed_sha(sample_repo: SampleRepo, tmp_path: Path) -> None:
    first = sample_repo.commit("v1")
    second = sample_repo.commit("v2")
    sources = Sources(tmp_path / "var")
    lines = Lines()
    workspace = sources.checkout(project_for(sample_repo), first, "run1", lines)
    assert (workspace / "www" / "index.html").read_text() == "v1\n"
    assert "cloning" in lines.lines[0]
    sources.remove_workspace("shop", workspace)
    assert not workspace.exists()

    third = sample_repo.commit("v3")
    lines = Lines()
    workspace = sources.checkout(project_for(sample_repo), third, "run2", lines)
    assert (workspace / "www" / "index.html").read_text() == "v3\n"
    assert "fetching" in lines.lines[0]  # the mirror is reused, not cloned again
    other = sources.checkout(project_for(sample_repo), second, "run3", lines)
    assert (other / "www" / "index.html").read_text() == "v2\n"
    assert (workspace / "www" / "index.html").read_text() == "v3\n"


def test_unknown_or_invalid_sha(sample_repo: SampleRepo, tmp_path: Path) -> None:
    sample_repo.commit("v1")
    sources = Sources(tmp_path / "var")
    with pytest.raises(CheckoutError, match="is not in"):
        sources.checkout(project_for(sample_repo), "d" * 40, "run1", Lines())
    with pytest.raises(CheckoutError, match="not a full commit sha"):
        sources.checkout(project_for(sample_repo), "--upload-pack=x", "run1", Lines())


def test_unreachable_repo(tmp_path: Path) -> None:
    project = Project(name="shop", repo=str(tmp_path / "nope"), forge=Forge.GITHUB,
                      webhook_secret="x")
    with pytest.raises(CheckoutError, match="git could not fetch"):
        Sources(tmp_path / "var").checkout(project, "a" * 40, "run1", Lines())


def test_a_relative_data_dir(sample_repo: SampleRepo, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    sha = sample_repo.commit("v1")
    monkeypatch.chdir(tmp_path)
    workspace = Sources(Path("var")).checkout(project_for(sample_repo), sha, "run1", Lines())
    assert workspace == tmp_path / "var" / "workspaces" / "run1"
    assert (workspace / "Dockerfile").is_file()


def test_a_local_repo_owned_by_another_user(sample_repo: SampleRepo, tmp_path: Path) -> None:
    """As in the worker's container: the repo is a mount owned by someone else."""
    import os
    import shutil as sh

    if os.geteuid() != 0:
        pytest.skip("giving the repository another owner needs root")
    sha = sample_repo.commit("v1")
    for path in [sample_repo.path, *sample_repo.path.rglob("*")]:
        os.lchown(path, 54321, 54321)
    try:
        sources = Sources(tmp_path / "var")
        workspace = sources.checkout(project_for(sample_repo), sha, "run1", Lines())
        assert (workspace / "www" / "index.html").read_text() == "v1\n"
        again = sources.checkout(project_for(sample_repo), sha, "run2", Lines())  # a fetch
        assert again.exists()
    finally:
        sh.chown(sample_repo.path, 0, 0)
        for path in sample_repo.path.rglob("*"):
            os.lchown(path, 0, 0)


def test_only_local_repos_are_trusted() -> None:
    from pipeline.source import trust_config

    assert trust_config("https://github.com/acme/shop.git", None) is None
    assert trust_config("git@github.com:acme/shop.git", None) is None
    config = trust_config("file:///srv/git/shop/", "/home/me/.gitconfig") or ""
    assert "\tdirectory = /srv/git/shop\n" in config
    assert "\tdirectory = /srv/git/shop/.git\n" in config
    assert "\tpath = /home/me/.gitconfig\n" in config


# -- pull requests: the head fetched from the project's repository by its ref ------------------
def _pull_head(repo: SampleRepo, ref: str, version: str) -> str:
    """A commit only `ref` holds, as a forge keeps a pull request's head."""
    repo.git("checkout", "-q", "-b", "incoming")
    sha = repo.commit(version)
    repo.git("update-ref", ref, sha)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "incoming")
    return sha


@pytest.mark.parametrize("ref", ["refs/pull/3/head", "refs/merge-requests/3/head"])
def test_a_pull_requests_head_is_fetched_by_its_ref(sample_repo: SampleRepo, tmp_path: Path,
                                                    ref: str) -> None:
    sample_repo.commit("main")
    sources = Sources(tmp_path / "var")
    project = project_for(sample_repo)
    sources.checkout(project, sample_repo.git("rev-parse", "HEAD"), "run0", Lines())
    head = _pull_head(sample_repo, ref, "pr")
    lines = Lines()
    assert sources.fetch_pull_request(project, ref, head, lines) == head
    assert f"fetching {ref} from {sample_repo.path}" in lines.lines
    workspace = sources.checkout(project, head, "run1", lines)
    assert (workspace / "www" / "index.html").read_text() == "pr\n"


def test_an_abbreviated_head_is_resolved_against_the_fetched_branch(
        sample_repo: SampleRepo, tmp_path: Path) -> None:
    sample_repo.commit("main")
    sample_repo.git("checkout", "-q", "-b", "feature/wishlist")
    head = sample_repo.commit("pr")
    sample_repo.git("checkout", "-q", "main")
    sources = Sources(tmp_path / "var")
    project = project_for(sample_repo)
    ref = "refs/heads/feature/wishlist"
    assert sources.fetch_pull_request(project, ref, head[:12], Lines()) == head
    sample_repo.git("checkout", "-q", "feature/wishlist")
    newer = sample_repo.commit("pr2")
    with pytest.raises(CheckoutError, match=f"is at {newer[:12]} now, not {head[:12]}"):
        sources.fetch_pull_request(project, ref, head[:12], Lines())


@pytest.mark.parametrize("ref", ["refs/pull/3/head:refs/heads/main", "+refs/pull/3/head",
                                 "--upload-pack=x", "refs/heads/a..b", "refs/tags/v1",
                                 "refs/heads/x.lock"])
def test_only_plain_pull_request_refs_are_fetched(sample_repo: SampleRepo, tmp_path: Path,
                                                  ref: str) -> None:
    sample_repo.commit("main")
    with pytest.raises(CheckoutError, match="refusing to fetch"):
        Sources(tmp_path / "var").fetch_pull_request(project_for(sample_repo), ref, "a" * 40,
                                                     Lines())


def test_a_missing_pull_request_ref_is_a_checkout_error(sample_repo: SampleRepo,
                                                        tmp_path: Path) -> None:
    sample_repo.commit("main")
    with pytest.raises(CheckoutError, match="has no refs/pull/9/head"):
        Sources(tmp_path / "var").fetch_pull_request(project_for(sample_repo),
                                                     "refs/pull/9/head", "a" * 40, Lines())

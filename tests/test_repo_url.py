from __future__ import annotations

import pytest

from pipeline.repo_url import locate, repo_matches


@pytest.mark.parametrize(("url", "identity", "web"), [
    ("https://github.com/acme/shop.git", "github.com/acme/shop", "https://github.com"),
    ("https://GitHub.com/Acme/Shop/", "github.com/acme/shop", "https://github.com"),
    ("git@github.com:acme/shop.git", "github.com/acme/shop", "https://github.com"),
    ("ssh://git@gitea.example.com:2222/acme/shop.git", "gitea.example.com/acme/shop",
     "https://gitea.example.com"),
    ("http://127.0.0.1:3000/acme/shop.git", "127.0.0.1/acme/shop", "http://127.0.0.1:3000"),
    ("https://gitlab.example.com/group/sub/shop.git", "gitlab.example.com/group/sub/shop",
     "https://gitlab.example.com"),
    ("/srv/git/shop.git", "srv/git/shop", "https://"),
])
def test_locate(url: str, identity: str, web: str) -> None:
    location = locate(url)
    assert location is not None
    assert location.identity == identity
    if location.host:
        assert location.web_base == web


@pytest.mark.parametrize("url", ["", "shop", "https://", "http://[::1"])
def test_not_a_location(url: str) -> None:
    assert locate(url) is None


def test_payload_names_match_the_project_repo() -> None:
    repo = "https://github.com/acme/shop.git"
    assert repo_matches(repo, ["acme/shop"])
    assert repo_matches(repo, ["git@github.com:acme/shop.git"])
    assert repo_matches(repo, ["", "https://github.com/acme/shop"])
    assert not repo_matches(repo, ["acme/shop-admin", "https://github.com/acme/other.git"])
    assert not repo_matches(repo, ["https://evil.example/acme/shop.git"])
    assert not repo_matches(repo, [])
    assert repo_matches("/srv/git/shop.git", ["/srv/git/shop.git"])
    assert not repo_matches("/srv/git/shop.git", ["/srv/git/other.git"])

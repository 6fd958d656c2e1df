"""Cache mount ids put under a project's scope (on data), and kept apart on the engine."""

from __future__ import annotations

import pytest

from pipeline.build import build_image
from pipeline.cache_mounts import check_build_args, scope_dockerfile
from pipeline.config import BuildSpec
from pipeline.errors import BuildError
from tests.support import Lines, SampleRepo

SCOPE = "shop/trusted"


def test_a_cache_mount_gets_the_scope_and_keeps_its_options() -> None:
    text = ("FROM base\n"
            "RUN --mount=type=cache,target=/root/.cache,sharing=locked pip install x\n"
            "RUN --mount=type=cache,id=npm,target=/root/.npm,ro npm ci\n"
            "RUN --mount=type=secret,id=TOKEN --mount=type=bind,target=/src make\n")
    assert scope_dockerfile(text, SCOPE).split("\n") == [
        "FROM base",
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked,"
        "id=shop/trusted//root/.cache pip install x",
        "RUN --mount=type=cache,target=/root/.npm,ro,id=shop/trusted/npm npm ci",
        "RUN --mount=type=secret,id=TOKEN --mount=type=bind,target=/src make",
        ""]


def test_continued_lines_are_joined_and_line_numbers_kept() -> None:
    text = ("FROM base\n"
            "RUN --mount=type=cache,\\\n"
            "# a comment inside the instruction\n"
            "target=/cache \\\n"
            "    make\n"
            "RUN --mount=Type=Cache,target=/c true\n")
    lines = scope_dockerfile(text, SCOPE).split("\n")
    assert lines[1] == "RUN --mount=type=cache,target=/cache     make".replace(
        "target=/cache", "target=/cache,id=shop/trusted//cache")
    assert lines[2:5] == ["", "", ""]
    assert lines[5] == "RUN --mount=Type=Cache,target=/c,id=shop/trusted//c true"


def test_the_escape_directive_changes_the_continuation() -> None:
    text = "# escape=`\nFROM base\nRUN --mount=type=cache,`\ntarget=/c dir\n"
    assert scope_dockerfile(text, SCOPE).split("\n")[2] == (
        "RUN --mount=type=cache,target=/c,id=shop/trusted//c dir")


def test_only_dockers_own_frontend() -> None:
    for allowed in ("docker/dockerfile:1", "docker.io/docker/dockerfile:1.7-labs",
                    "docker/dockerfile-upstream:master", "docker/dockerfile"):
        scope_dockerfile(f"# syntax={allowed}\nFROM base\n", SCOPE)
    with pytest.raises(BuildError, match=r"syntax=evil/frontend:1.*only Docker's own"):
        scope_dockerfile("#  Syntax = evil/frontend:1\nFROM base\n", SCOPE)
    # Below the first instruction it is a comment, as BuildKit reads it.
    scope_dockerfile("FROM base\n# syntax=evil/frontend:1\n", SCOPE)
    with pytest.raises(BuildError, match="BUILDKIT_SYNTAX is not allowed"):
        check_build_args({"buildkit_syntax": "evil/frontend"})


def test_projects_do_not_share_cache_mounts(base_image: str, project_name: str,
                                           sample_repo: SampleRepo) -> None:
    """Two projects, Dockerfiles with the same cache id: the second sees nothing of the
    first; the first project again sees its own."""
    def build(project: str, version: str) -> list[str]:
        # The RUN's text differs each time, so its layer is never taken from the cache.
        sha = sample_repo.commit(version, files={"Dockerfile": (
            f"FROM {base_image}\n"
            "RUN --mount=type=cache,id=shared,target=/cache "
            "echo \"found: $(cat /cache/who 2>/dev/null || echo nothing)\"; "
            f"echo {project} > /cache/who # {version}\n")})
        lines = Lines()
        build_image(BuildSpec(), sample_repo.path, project, sha, lines)
        return [line.split(" ", 2)[-1] for line in lines.lines if "found: " in line
                and not line.split(" ", 2)[1].startswith("[")]

    assert build(project_name, "v1") == ["found: nothing"]
    assert build(f"{project_name}x", "v2") == ["found: nothing"]
    assert build(project_name, "v3") == [f"found: {project_name}"]


def test_a_huge_or_binary_dockerfile_is_refused(project_name: str,
                                                sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1", files={"Dockerfile": "FROM x\n" + "#" * (1024 * 1024)})
    with pytest.raises(BuildError, match=r"^Dockerfile is larger than 1m$"):
        build_image(BuildSpec(), sample_repo.path, project_name, sha, Lines())
    (sample_repo.path / "Dockerfile").write_bytes(b"FROM x\n\xff\xfe\n")
    with pytest.raises(BuildError, match=r"^Dockerfile cannot be read: 'utf-8' codec"):
        build_image(BuildSpec(), sample_repo.path, project_name, sha, Lines())

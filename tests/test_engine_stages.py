"""Build and test steps on the real Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.build import build_image
from pipeline.config import BuildSpec, Resources, StepSpec
from pipeline.errors import BuildError
from pipeline.steps import run_step, step_container_spec
from tests.support import Lines, SampleRepo


def test_build_streams_and_tags(docker_client, base_image: str, project_name: str,
                                sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1")
    lines = Lines()
    tag = build_image(BuildSpec(), sample_repo.path, project_name, sha, lines)
    assert tag == f"{project_name}:{sha}"
    image = docker_client.images.get(tag)
    assert image.labels["pushdock.project"] == project_name
    # BuildKit's plain progress, line by line: "#6 [2/3] COPY www /www"
    assert any(line.startswith("#") and "/" in line.split()[1] and "COPY www /www" in line
               for line in lines.lines)


def test_failing_build_quotes_the_instruction(docker_client, base_image: str,
                                              project_name: str,
                                              sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1", files={"Dockerfile": f"FROM {base_image}\n"
                                          "RUN echo compiling && exit 3\n"})
    with pytest.raises(BuildError) as caught:
        build_image(BuildSpec(), sample_repo.path, project_name, sha, Lines())
    message = str(caught.value)
    assert "RUN echo compiling && exit 3" in message
    assert "exit code: 3" in message


def test_missing_dockerfile(docker_client, project_name: str, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no Dockerfile"):
        build_image(BuildSpec(), tmp_path, project_name, "a" * 40, Lines())


def step(docker_client, base_image: str, project_name: str, run: str,
         timeout: float = 30, env: dict[str, str] | None = None):
    lines = Lines()
    network = docker_client.networks.create(f"{project_name}-net",
                                            labels={"pushdock.project": project_name})
    try:
        spec = step_container_spec(StepSpec(name="s", run=run, timeout=timeout),
                                   image=base_image, resources=Resources(memory=64 * 1024**2),
                                   env=env or {}, project=project_name, run_id="1",
                                   network=network.name)
        result = run_step(docker_client, spec, timeout, lines)
    finally:
        network.remove()
    assert not docker_client.containers.list(all=True, filters={"name": spec.name})
    return result, lines


def test_step_output_and_exit_codes(docker_client, base_image: str,
                                    project_name: str) -> None:
    result, lines = step(docker_client, base_image, project_name,
                         'echo "hello $WHO"; echo to-stderr >&2; exit 0', env={"WHO": "you"})
    assert result.ok and result.exit_code == 0
    # stdout and stderr are separate streams: their relative order is not kept
    assert sorted(lines.lines) == ["hello you", "to-stderr"]
    result, _ = step(docker_client, base_image, project_name, "exit 4")
    assert not result.ok and result.exit_code == 4 and not result.timed_out


def test_step_timeout_kills_it(docker_client, base_image: str, project_name: str) -> None:
    result, lines = step(docker_client, base_image, project_name, "echo start; sleep 60",
                         timeout=1.5)
    assert result.timed_out and not result.ok
    assert lines.lines[0] == "start"
    assert "timed out after 1.5s" in lines.lines[-1]

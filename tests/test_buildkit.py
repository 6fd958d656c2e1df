"""BuildKit builds through the docker CLI, on the real engine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from pipeline.build import build_command, build_image, secret_files
from pipeline.build_progress import ProgressReader
from pipeline.config import BuildSpec
from pipeline.errors import BuildError
from tests.support import Lines, SampleRepo, processes_with, wait_for


def run_in(docker_client, image: str, *command: str) -> str:
    return docker_client.containers.run(image, list(command), remove=True).decode().strip()


def test_command_is_an_argument_list(tmp_path: Path) -> None:
    spec = BuildSpec(dockerfile="docker/App.dockerfile", context="srv",
                     args={"GREETING": "a b; $(rm -rf /)"}, target="final")
    command = build_command(spec, tmp_path, "shop", "c" * 40, cli="/usr/bin/docker",
                            base_env={"PATH": "/usr/bin"})
    argv = list(command.argv)
    assert argv[:3] == ["/usr/bin/docker", "build", "--progress=plain"]
    assert argv[argv.index("--file") + 1] == str(tmp_path / "srv" / "docker/App.dockerfile")
    assert argv[argv.index("--build-arg") + 1] == "GREETING=a b; $(rm -rf /)"
    assert argv[argv.index("--target") + 1] == "final"
    assert "pushdock.project=shop" in argv and f"pushdock.sha={'c' * 40}" in argv
    assert argv[-1] == str(tmp_path / "srv")
    assert command.env["DOCKER_BUILDKIT"] == "1" and command.env["PATH"] == "/usr/bin"
    assert command.tag == f"shop:{'c' * 40}"


def test_failure_names_the_instruction_of_its_vertex() -> None:
    reader = ProgressReader(Lines())
    for line in ["#5 [build 2/3] RUN make all", "#5 sha256:0123", "#5 0.21 cc -o app",
                 "#6 [stage-1 1/2] COPY a /a", "#6 DONE 0.1s",
                 "#5 ERROR: executor failed running [/bin/sh -c make all]: exit code: 2",
                 "error: failed to solve: rpc error"]:
        reader.log(line)
    failure = reader.failure()
    assert failure.instruction == "RUN make all"
    assert failure.message == "exit code: 2"


def test_cache_mount_persists_and_copy_chmod(docker_client, base_image: str,
                                            project_name: str,
                                            sample_repo: SampleRepo) -> None:
    def dockerfile(stamp: str) -> dict[str, str]:
        return {"tool.sh": "#!/bin/sh\n", "stamp": stamp + "\n", "Dockerfile": (
            f"FROM {base_image}\n"
            "COPY --chmod=750 tool.sh /tool.sh\n"
            "COPY stamp /stamp\n"
            f"RUN --mount=type=cache,id={project_name},target=/cache "
            "echo \"before: $(cat /cache/seen 2>/dev/null || echo nothing)\"; "
            "cp /stamp /cache/seen\n")}

    first = sample_repo.commit("v1", files=dockerfile("first-stamp"))
    lines = Lines()
    tag = build_image(BuildSpec(), sample_repo.path, project_name, first, lines)
    assert any(line.endswith("before: nothing") for line in lines.lines)
    assert run_in(docker_client, tag, "stat", "-c", "%a", "/tool.sh") == "750"

    second = sample_repo.commit("v2", files=dockerfile("second-stamp"))
    lines = Lines()
    build_image(BuildSpec(), sample_repo.path, project_name, second, lines)
    assert any(line.endswith("before: first-stamp") for line in lines.lines)


def test_layer_cache_target_args_and_labels(docker_client, base_image: str,
                                           project_name: str,
                                           sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1", files={"build/App.dockerfile": (
        f"FROM {base_image} AS app\n"
        "ARG FLAVOUR\n"
        "RUN echo \"flavour=$FLAVOUR\" > /flavour\n"
        "FROM app AS extra\n"
        "RUN touch /extra\n")})
    spec = BuildSpec(dockerfile="build/App.dockerfile", args={"FLAVOUR": "mint"}, target="app")
    tag = build_image(spec, sample_repo.path, project_name, sha, Lines())
    image = docker_client.images.get(tag)
    assert image.labels["pushdock.project"] == project_name
    assert image.labels["pushdock.sha"] == sha
    assert run_in(docker_client, tag, "cat", "/flavour") == "flavour=mint"
    assert run_in(docker_client, tag, "sh", "-c", "test -e /extra || echo absent") == "absent"

    lines = Lines()
    build_image(spec, sample_repo.path, project_name, sha, lines)
    # "#7 [app 2/2] RUN echo ...", then "#7 CACHED": the layer was not built again.
    run_vertex = next(line.split()[0] for line in lines.lines if "RUN echo" in line)
    assert f"{run_vertex} CACHED" in lines.lines


def test_a_secret_is_readable_in_the_run_and_absent_from_the_image(
        docker_client, base_image: str, project_name: str, sample_repo: SampleRepo) -> None:
    value = f"tok-{project_name}-Zq7"
    sha = sample_repo.commit("v1", files={"Dockerfile": (
        f"FROM {base_image}\n"
        f"RUN echo {project_name} > /project\n"  # a secret is no part of a layer's cache key
        "RUN --mount=type=secret,id=API_TOKEN sha256sum /run/secrets/API_TOKEN > /proof\n"
        "RUN --mount=type=secret,id=API_TOKEN ls -l /run/secrets/API_TOKEN\n")})
    lines = Lines()
    tag = build_image(BuildSpec(secrets=("API_TOKEN",)), sample_repo.path,
                      project_name, sha, lines, secrets={"API_TOKEN": value, "OTHER": "x"})
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert run_in(docker_client, tag, "cat", "/proof").split()[0] == digest

    assert all(value not in line for line in lines.lines)
    history = docker_client.images.get(tag).history()
    assert history and all(value not in json.dumps(entry) for entry in history)
    # Every byte of every layer, the config and the manifest, as `docker save` writes them.
    saved = b"".join(docker_client.images.get(tag).save(named=True))
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        members = [member for member in archive.getmembers() if member.isfile()]
        assert any(member.name.endswith("layer.tar") for member in members)
        for member in members:
            content = archive.extractfile(member).read()  # type: ignore[union-attr]
            assert value.encode() not in content, member.name
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=io.BytesIO(content)) as layer:
                    assert not any("API_TOKEN" in name for name in layer.getnames())


def test_a_secret_the_project_lacks_is_refused(docker_client, base_image: str,
                                                project_name: str,
                                                sample_repo: SampleRepo) -> None:
    sha = sample_repo.commit("v1")
    with pytest.raises(BuildError, match=r"build\.secrets: NPM_TOKEN is not a secret"):
        build_image(BuildSpec(secrets=("NPM_TOKEN",)), sample_repo.path,
                    project_name, sha, Lines(), secrets={"API_TOKEN": "x"})


def test_secret_files_are_private_and_removed() -> None:
    with secret_files(("API_TOKEN",), {"API_TOKEN": "v", "OTHER": "w"}) as files:
        [path] = files.values()
        assert path.read_text() == "v"
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not path.exists() and not path.parent.exists()


def sleeper(base_image: str, marker: str) -> dict[str, str]:
    """A Dockerfile whose RUN prints once, then nothing for ten minutes."""
    # The shell stays (its last command is not the sleep) with the marker in its arguments.
    return {"Dockerfile": f"FROM {base_image}\n"
                          f"RUN echo {marker}; sleep 600; echo {marker} slept\n"}


def test_build_timeout_stops_a_silent_build(docker_client, base_image: str,
                                            project_name: str, sample_repo: SampleRepo) -> None:
    marker = f"sleeper-{uuid.uuid4().hex[:12]}"
    sha = sample_repo.commit("v1", files=sleeper(base_image, marker))
    lines = Lines()
    with pytest.raises(BuildError, match="build timed out after 5s"):
        build_image(BuildSpec(timeout=5), sample_repo.path, project_name, sha,
                    lines)
    assert any(line.endswith(f" {marker}") for line in lines.lines), "the RUN never ran"
    wait_for(lambda: not processes_with(marker), timeout=10, what="the RUN to end")


def test_build_timeout_stops_a_build_that_keeps_printing(base_image: str, project_name: str,
                                                         sample_repo: SampleRepo) -> None:
    marker = f"chatty-{uuid.uuid4().hex[:12]}"
    dockerfile = (f"FROM {base_image}\n"
                  f"RUN i=0; while [ $i -lt 6000 ]; do echo {marker} $i; sleep 0.1; "
                  "i=$((i + 1)); done\n")
    sha = sample_repo.commit("v1", files={"Dockerfile": dockerfile})
    lines = Lines()
    with pytest.raises(BuildError, match="build timed out after 5s"):
        build_image(BuildSpec(timeout=5), sample_repo.path, project_name, sha, lines)
    assert sum(marker in line for line in lines.lines) > 5  # it printed all along
    wait_for(lambda: not processes_with(marker), timeout=10, what="the RUN to end")

"""`pushdock run PATH`: a checkout's pipeline in the terminal, without a webhook or Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import SampleRepo


def pushdock_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHDOCK_")}
    env["PUSHDOCK_DATA_DIR"] = str(cwd / "var")
    env["PUSHDOCK_CONFIG_DIR"] = str(cwd / "pipelines.d")
    return subprocess.run([sys.executable, "-m", "pushdock", "run", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_local_run_shows_stages_and_log(sample_repo: SampleRepo, base_image: str,
                                          tmp_path: Path, docker_client) -> None:
    name = f"local-{os.getpid()}"
    repo = SampleRepo(tmp_path / name)
    good = repo.commit("v1")
    repo.commit("broken")
    try:
        failed = pushdock_run(str(repo.path), "--no-deploy", cwd=tmp_path)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "── test: FAILED" in failed.stdout
        assert "step unit failed with exit code 1" in failed.stdout.splitlines()[-1]

        passed = pushdock_run(str(repo.path), "--no-deploy", "--sha", good[:10], cwd=tmp_path)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        out = passed.stdout
        for stage in ("checkout", "config", "build", "test"):
            assert f"── {stage}: ok" in out
        assert "── deploy: skipped" in out
        assert "   tests pass" in out
        assert out.splitlines()[-1].startswith("pushdock: success in ")

        bad_sha = pushdock_run(str(repo.path), "--sha", "nope", cwd=tmp_path)
        assert bad_sha.returncode == 1 and "is not a commit" in bad_sha.stderr
        assert "Traceback" not in bad_sha.stderr
    finally:
        for image in docker_client.images.list(filters={"label": f"pushdock.project={name}"}):
            docker_client.images.remove(image.id, force=True)

"""How much Pushdock adds to the work a run does anyway.

Times `pushdock run --no-deploy --sha SHA` on a sample repository against the same work as
plain commands (git clone + checkout, docker build, docker run of the test step), cold
(no mirror, no layer cache) and warm (mirror and layer cache kept), alternating the two
in the same run. Then times the fetch of a one-commit push into a repository with 5,000
commits: cold (first clone of the mirror) and warm (the mirror fetches only what is new).

    .venv/bin/python bench/overhead.py [--rounds 3]

Goal: pushdock <= 1.10 x plain + 1 s. Needs the Docker engine and git (script/bootstrap).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Project  # noqa: E402
from pipeline.docker_cli import docker_cli  # noqa: E402
from pipeline.model import Forge  # noqa: E402
from pipeline.source import Sources  # noqa: E402

BASE = f"pushdock-bench/busybox:{os.getpid()}"
PROJECT = f"bench-{os.getpid()}"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def sh(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env or GIT_ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def build_base(client: docker.DockerClient, work: Path) -> None:
    context = work / "base"
    context.mkdir()
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\n'
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    client.images.build(path=str(context), tag=BASE, rm=True)


def sample_repo(work: Path) -> tuple[Path, str]:
    repo = work / "app"
    (repo / "src").mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    for i in range(200):  # some files to clone and send as build context
        (repo / "src" / f"module{i}.txt").write_text(f"module {i}\n" * 200)
    (repo / "Dockerfile").write_text(
        f"FROM {BASE}\nCOPY src /src\n"
        "RUN sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo built'\n"
        "RUN cat /src/* | wc -l > /lines\n")
    (repo / ".pushdock.yml").write_text(
        "test:\n  steps:\n    - {name: unit, run: 'test $(cat /lines) -gt 0 && echo ok'}\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "sample", cwd=repo)
    return repo, sh("git", "rev-parse", "HEAD", cwd=repo)


def forget_images(client: docker.DockerClient, *tags: str) -> None:
    for tag in tags:
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


def time_pushdock(repo: Path, sha: str, data_dir: Path, config_dir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHDOCK_")}
    env.update(PUSHDOCK_DATA_DIR=str(data_dir), PUSHDOCK_CONFIG_DIR=str(config_dir))
    start = time.perf_counter()
    sh(str(ROOT / ".venv/bin/pushdock"), "run", str(repo), "--no-deploy", "--sha", sha,
       "--project", PROJECT, env=env)
    return time.perf_counter() - start


def time_plain(repo: Path, sha: str, clone_dir: Path) -> float:
    tag = f"{PROJECT}-plain:{sha}"
    start = time.perf_counter()
    if clone_dir.exists():
        sh("git", "-C", str(clone_dir), "fetch", "-q", "origin")
    else:
        sh("git", "clone", "-q", "--no-checkout", str(repo), str(clone_dir))
    work = clone_dir.parent / "plain-work"
    shutil.rmtree(work, ignore_errors=True)
    sh("git", "-C", str(clone_dir), "worktree", "add", "-q", "--detach", str(work), sha)
    # The same BuildKit build as Pushdock's, by the same CLI.
    sh(docker_cli(), "build", "-q", "-t", tag, str(work),
       env={**GIT_ENV, "DOCKER_BUILDKIT": "1"})
    sh("docker", "run", "--rm", tag, "sh", "-c", "test $(cat /lines) -gt 0 && echo ok")
    shutil.rmtree(work, ignore_errors=True)
    sh("git", "-C", str(clone_dir), "worktree", "prune")
    return time.perf_counter() - start


def new_commit(repo: Path, label: str) -> str:
    """A commit whose build context differs, so its build misses the layer cache (cold)."""
    (repo / "src" / "round.txt").write_text(label + "\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", label, cwd=repo)
    return sh("git", "rev-parse", "HEAD", cwd=repo)


def build_comparison(client: docker.DockerClient, work: Path, rounds: int) -> None:
    repo, _ = sample_repo(work)
    config_dir = work / "pipelines.d"
    config_dir.mkdir()
    results: dict[str, list[float]] = {k: [] for k in
                                       ("pushdock cold", "plain cold", "pushdock warm",
                                        "plain warm")}
    for number in range(rounds):
        data_dir, clone_dir = work / f"var{number}", work / f"clone{number}"
        ours = new_commit(repo, f"pushdock {number}")
        plain = new_commit(repo, f"plain {number}")
        results["pushdock cold"].append(time_pushdock(repo, ours, data_dir, config_dir))
        results["plain cold"].append(time_plain(repo, plain, clone_dir))
        results["pushdock warm"].append(time_pushdock(repo, ours, data_dir, config_dir))
        results["plain warm"].append(time_plain(repo, plain, clone_dir))
        forget_images(client, f"{PROJECT}:{ours}", f"{PROJECT}-plain:{plain}")
    print(f"build + test, median of {rounds} rounds (seconds); cold: the build context is new "
          "and no mirror exists; warm: the same commit again:")
    medians = {k: statistics.median(v) for k, v in results.items()}
    for kind in ("cold", "warm"):
        ours_time, plain_time = medians[f"pushdock {kind}"], medians[f"plain {kind}"]
        goal = 1.10 * plain_time + 1.0
        print(f"  {kind}: pushdock {ours_time:6.2f}  plain {plain_time:6.2f}  "
              f"ratio {ours_time / plain_time:4.2f}  goal <= {goal:5.2f}  "
              f"{'met' if ours_time <= goal else 'NOT met'}")


def big_repo(work: Path, commits: int) -> Path:
    repo = work / "big"
    repo.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    stream = []
    for i in range(commits):
        content = f"line {i}\n"
        stream.append(f"commit refs/heads/main\nmark :{i + 1}\n"
                      f"committer b <b@b> {1700000000 + i} +0000\n"
                      f"data {len(f'commit {i}')}\ncommit {i}\n"
                      + (f"from :{i}\n" if i else "")
                      + f"M 644 inline file{i % 50}.txt\ndata {len(content)}\n{content}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream),
                   text=True, check=True, env=GIT_ENV)
    sh("git", "checkout", "-q", "main", cwd=repo)
    assert sh("git", "rev-list", "--count", "HEAD", cwd=repo) == str(commits)
    return repo


class Quiet:
    def log(self, line: str) -> None:
        pass


def fetch_comparison(work: Path, commits: int) -> None:
    repo = big_repo(work, commits)
    # file:// makes git use its transport (pack negotiation), as over a network, instead of
    # hard-linking a local path.
    url = f"file://{repo}"
    project = Project(name="big", repo=url, forge=Forge.GENERIC, webhook_secret="-")
    sources = Sources(work / "fetch-var")
    start = time.perf_counter()
    sources.update_mirror(project, Quiet())
    cold = time.perf_counter() - start
    (repo / "new.txt").write_text("one more\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "push", cwd=repo)
    start = time.perf_counter()
    sources.update_mirror(project, Quiet())
    warm = time.perf_counter() - start
    start = time.perf_counter()
    sh("git", "clone", "-q", "--mirror", url, str(work / "plain-mirror"))
    plain = time.perf_counter() - start
    print(f"fetch of a one-commit push into a {commits}-commit repository (seconds):")
    print(f"  cold (first clone of the mirror) {cold:6.3f}   plain git clone --mirror {plain:6.3f}")
    print(f"  warm (fetch of what is new)      {warm:6.3f}   ratio warm/cold {warm / cold:5.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=5000)
    args = parser.parse_args()
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="pushdock-bench-"))
    try:
        build_base(client, work)
        build_comparison(client, work, args.rounds)
        fetch_comparison(work, args.commits)
    finally:
        forget_images(client, BASE)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

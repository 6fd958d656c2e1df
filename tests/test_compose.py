"""docker-compose.yml for real: the stack brought up by Debian's docker-compose from locally
built stand-ins of the public images, a signed push deployed and served by the caddy
container, a worker restarted in the middle of a run, queued runs that outlive a killed
Redis, and a PostgreSQL accessory made by the stack's worker, backed up into the stack's
volume, copied off it the README's way, and kept over `docker-compose down` and up."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.build_bounds import engine_groups
from tests.compose_stack import (
    BUILD_PIDS,
    POSTGRES,
    ROOT,
    STANDINS,
    TOKEN,
    Stack,
    build_pushdock_image,
    ensure_standins,
)
from tests.conftest import remove_project_resources
from tests.support import (
    DB_APP,
    SampleRepo,
    github_push,
    project_file,
    restore_build_bounds,
    wait_for,
)
from tests.test_accessories import RELEASE

pytestmark = pytest.mark.integration

SECRET = "compose-secret"
QUEUED = 50
MARK = "pushdock-test:mark"  # a key set after the queued runs

# The test step reaches a service by name: the service is waited for with the TCP probe,
# which the containerised worker can only do from the run's network.
PIPELINE = """test:
  services:
    svc: {{image: {service}, deadline: 30s}}
  steps:
    - name: unit
      run: {run}
deploy:
  port: 8000
  health: {{path: /healthz, interval: 200ms, healthy_after: 2, deadline: 20s}}
  drain: 0s
"""
CHECK = 'wget -q -O- http://svc:7000/ && test "$(cat /www/index.html)" != broken && echo tests pass'
NO_TESTS = "deploy:\n  port: 8000\n"

# The project with a database: PostgreSQL (the stand-in, by its public name) as an
# accessory with backups; the app's release inserts a row and its web process counts them.
DB_PROJECT = """secrets:
  PGPASSWORD: ${{COMPOSE_SECRET}}
accessories:
  db:
    image: {image}
    env: {{POSTGRES_PASSWORD: "${{COMPOSE_SECRET}}", POSTGRES_DB: shop}}
    volumes: {{data: /var/lib/postgresql/data}}
    ready: pg_isready -U postgres -d shop
    backup: {{run: pg_dumpall -U postgres, restore: psql -U postgres, ext: sql}}
"""
DB_PIPELINE = f"""deploy:
  port: 8000
  health: {{path: /healthz, interval: 200ms, healthy_after: 2, deadline: 60s}}
  drain: 0s
  env: {{PGHOST: db, PGUSER: postgres, PGDATABASE: shop}}
  release: {json.dumps(RELEASE)}
"""
DB_DOCKERFILE = (f"FROM {POSTGRES}\nCOPY www /www\nCOPY app.py /app.py\n"
                 'CMD ["python3", "/app.py"]\n')


@dataclass(frozen=True)
class Setup:
    stack: Stack
    project: str
    repo: SampleRepo
    db_project: str  # the project with the PostgreSQL accessory
    db_repo: SampleRepo

    @property
    def host(self) -> str:
        return f"{self.project}.localhost"

    @property
    def db_host(self) -> str:
        return f"{self.db_project}.localhost"


@pytest.fixture(scope="module")
def setup(docker_client, base_image: str) -> Iterator[Setup]:
    standins = ensure_standins(docker_client)
    image = build_pushdock_image(f"pushdock-test/pushdock:{uuid.uuid4().hex[:8]}",
                                 standins["python"])
    project = f"c{uuid.uuid4().hex[:10]}"
    db_project = f"d{uuid.uuid4().hex[:10]}"
    stack = Stack(image, standins, SECRET)
    try:
        # A service image exposing a port and no ready command: the TCP probe's case.
        context = Path(tempfile.mkdtemp(prefix="pd-svc-"))
        (context / "Dockerfile").write_text(
            f"FROM {base_image}\nLABEL pushdock.project={project}\n"
            "RUN mkdir -p /www && echo svc > /www/index.html\nEXPOSE 7000\n"
            'CMD ["httpd", "-f", "-p", "7000", "-h", "/www"]\n')
        docker_client.images.build(path=str(context), tag=f"{project}-svc:test", rm=True)
        shutil.rmtree(context, ignore_errors=True)
        # Before `up`: the worker mounts the repo, and Docker would make an empty directory.
        repo = SampleRepo(stack.repo)
        project_file(stack.pipelines, project, repo.path, secret_var="COMPOSE_SECRET",
                     host=f"{project}.localhost")
        db_repo = SampleRepo(stack.repos / "db")
        (db_repo.path / "Dockerfile").write_text(DB_DOCKERFILE)
        (db_repo.path / "app.py").write_text(DB_APP)
        project_file(stack.pipelines, db_project, db_repo.path, secret_var="COMPOSE_SECRET",
                     host=f"{db_project}.localhost", extra=DB_PROJECT.format(image=POSTGRES))
        stack("up", "-d", timeout=600)
        wait_for(lambda: stack.request("GET", "/healthz")[0] == 200, timeout=120,
                 interval=1, what="the web service of the stack")
        # The stack's build-bounds service holds this host's build steps to its settings.
        pids_max = engine_groups(docker_client.info(), Path("/sys/fs/cgroup")).pids / "pids.max"
        wait_for(lambda: pids_max.read_text() == f"{BUILD_PIDS}\n", timeout=60,
                 what="the stack's build bounds on the host")
        yield Setup(stack, project, repo, db_project, db_repo)
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()  # first: Caddy and the worker are on the project's network
        remove_project_resources(docker_client, project)
        remove_project_resources(docker_client, db_project)
        restore_build_bounds(docker_client)
        for network in docker_client.networks.list(names=[stack.apps_network]):
            network.remove()
        try:
            docker_client.images.remove(image, force=True)
        except Exception:
            pass


def push(stack: Stack, project: str, sha: str, *, branch: str = "main",
         message: str = "a change") -> str:
    body, headers = github_push(SECRET, sha, branch=branch, message=message)
    status, answer = stack.request("POST", f"/hooks/{project}", body, headers)
    assert status == 202, answer
    return re.search(r'"run":\s*"(\d+)"', answer).group(1)  # type: ignore[union-attr]


def finished(stack: Stack, run_id: str, timeout: float = 240) -> dict:
    def done() -> dict | None:
        run = stack.api(f"/api/runs/{run_id}")
        return run if run and run["status"] not in ("queued", "running") else None

    return wait_for(done, timeout=timeout, interval=1, what=f"run {run_id} to finish")


def in_append_only_file(stack: Stack, text: str) -> bool:
    """Whether Redis has written `text` to its append-only file, where a restart reads it."""
    found = stack("exec", "-T", "redis", "sh", "-c",
                  'grep -rqaF -- "$1" /data && echo found || echo absent', "sh", text)
    return found.strip() == "found"


class Watcher:
    """Asks the app through Caddy's published port, over and over, and keeps the answers."""

    def __init__(self, stack: Stack, host: str) -> None:
        self.answers: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, args=(stack, host), daemon=True)
        self.thread.start()

    def _watch(self, stack: Stack, host: str) -> None:
        while not self.stop.is_set():
            self.answers.append(stack.served(host))
            self.stop.wait(0.1)

    def finish(self) -> list[tuple[int, str]]:
        self.stop.set()
        self.thread.join(timeout=10)
        return self.answers


def test_push_deploys_through_the_stack_and_a_worker_restart_loses_nothing(
        setup: Setup, docker_client) -> None:
    compose, project, repo, host = setup.stack, setup.project, setup.repo, setup.host
    service = f"{project}-svc:test"

    # A signed push: checkout inside the worker, build, a service on the run network, the
    # test step, blue/green deploy; then the caddy container serves it by Host.
    first = push(compose, project, repo.commit("v1", files={
        ".pushdock.yml": PIPELINE.format(service=service, run=CHECK)}))
    run = finished(compose, first)
    _, log = compose.request("GET", f"/api/runs/{first}/log")
    assert run["status"] == "success", f"{run['reason']}\n{log}\n{compose.logs()}"
    assert [s["status"] for s in run["stages"]] == ["success"] * 5
    assert "service svc: ready" in log and "tests pass" in log
    # The worker's docker CLI built it with BuildKit: its plain progress is in the log.
    assert re.search(r"^#\d+ \[\d+/\d+\] COPY www /www$", log, re.MULTILINE), log
    assert compose.served(host) == (200, "v1")

    # Caddy's admin API answers the workers, but not the apps beside it on the apps network
    # (which do reach Caddy itself there). By address: the apps' busybox resolves no names.
    compose("exec", "-T", "worker", "python3", "-c", "import urllib.request; "
            "urllib.request.urlopen('http://caddy-admin:2019/config/', timeout=5)")
    [app] = docker_client.containers.list(filters={"label": [f"pushdock.project={project}",
                                                             "pushdock.role=app"]})
    caddy = docker_client.containers.get(compose("ps", "-q", "caddy").strip())
    addresses = {name: network["IPAddress"]
                 for name, network in caddy.attrs["NetworkSettings"]["Networks"].items()}
    # The app is on its project's network only; Caddy was connected to it (and keeps its
    # place on the apps network, which no app joins any more).
    assert list(app.attrs["NetworkSettings"]["Networks"]) == [f"pushdock-{project}"]
    on_apps = addresses.pop(f"pushdock-{project}")

    def fetch(url: str) -> tuple[int, bytes]:
        # `timeout`, not wget's -T, which crashes Debian's static busybox.
        result = app.exec_run(["timeout", "5", "wget", "-q", "-O-", url])
        return result.exit_code, result.output

    assert fetch(f"http://{on_apps}:80/")[0] == 0
    for address in [on_apps, *addresses.values()]:
        result = fetch(f"http://{address}:2019/config/")
        assert result[0] != 0, (address, result)

    # A run in its test stage when the worker restarts: it ends as lost, nothing of it is
    # left running, and the live app answers through Caddy all along.
    slow = push(compose, project, repo.commit("v2", files={
        ".pushdock.yml": PIPELINE.format(service=service, run="sleep 120")}))
    wait_for(lambda: (compose.api(f"/api/runs/{slow}") or {}).get("stage") == "test"
             and "step unit: sleep" in compose.request("GET", f"/api/runs/{slow}/log")[1],
             timeout=180, interval=0.5, what="the slow run's test step")
    watcher = Watcher(compose, host)
    try:
        compose("restart", "worker", timeout=120)
        ended = finished(compose, slow, timeout=180)
    finally:
        answers = watcher.finish()
    assert (ended["status"], ended["reason"]) == ("error", "worker lost"), (
        ended, compose.request("GET", f"/api/runs/{slow}/log")[1], compose.logs())
    assert answers and set(answers) == {(200, "v1")}, sorted(set(answers))
    wait_for(lambda: not docker_client.containers.list(
        all=True, filters={"label": [f"pushdock.run={slow}", f"pushdock.project={project}"]}),
        timeout=60, what="the lost run's containers to be removed")

    # The restarted worker came up at once, not after crashing on its former self.
    worker = docker_client.containers.get(compose("ps", "-q", "worker").strip())
    assert worker.attrs["RestartCount"] == 0, compose.logs()

    # The restarted worker takes the next push: green replaces blue.
    third = push(compose, project, repo.commit("v3", files={
        ".pushdock.yml": PIPELINE.format(service=service, run=CHECK)}))
    assert finished(compose, third)["status"] == "success"
    assert compose.served(host) == (200, "v3")
    [app] = docker_client.containers.list(filters={"label": [f"pushdock.project={project}",
                                                             "pushdock.role=app"]})
    assert app.name == f"pushdock-{project}-green"

    # The web service has the token of the env file: write actions take it, and only it.
    cancel = f"/api/runs/{third}/cancel"
    assert compose.request("POST", cancel)[0] == 401
    assert compose.request("POST", cancel, headers={
        "Authorization": f"Bearer {TOKEN}"})[0] == 409  # accepted; the run has finished


def test_queued_runs_outlive_a_killed_redis(setup: Setup) -> None:
    compose, project, repo = setup.stack, setup.project, setup.repo
    sha = repo.commit("queued", files={".pushdock.yml": NO_TESTS})

    compose("stop", "worker", timeout=120)
    # Distinct branches: none supersedes another.
    runs = [push(compose, project, sha, branch=f"feature/q{n}") for n in range(QUEUED)]
    assert int(compose.redis_cli("LLEN", "rq:queue:pushdock")) == QUEUED
    # Killed, Redis keeps what it had written to its append-only file (the kill ends the
    # process, not the machine). It writes in order: once a mark set after the pushes is in
    # the file, so is every write of theirs.
    compose.redis_cli("SET", MARK, "1")
    wait_for(lambda: in_append_only_file(compose, MARK), timeout=30, interval=0.2,
             what="the append-only file to hold the queued runs")

    compose("kill", "redis")
    # The deployed app stays served: the resolver answers Caddy from memory meanwhile.
    assert compose.served(setup.host)[0] == 200
    compose("start", "redis")
    wait_for(lambda: compose.request("GET", "/healthz")[0] == 200, timeout=60, interval=1,
             what="the web service to see Redis again")
    assert int(compose.redis_cli("LLEN", "rq:queue:pushdock")) == QUEUED
    listed = compose.api(f"/api/projects/{project}/runs?limit=100")
    queued = {r["id"] for r in listed["runs"] if r["status"] == "queued"}
    assert queued == set(runs)

    # Two workers take them all.
    compose("up", "-d", "--no-recreate", "--scale", "worker=2", "worker", timeout=300)
    ended = {run_id: finished(compose, run_id, timeout=600) for run_id in runs}
    failed = {run_id: (run["status"], run["reason"],
                       compose.request("GET", f"/api/runs/{run_id}/log")[1][-2000:])
              for run_id, run in ended.items() if run["status"] != "success"}
    assert not failed, failed
    assert compose.redis_cli("LLEN", "rq:queue:pushdock") == "0"


# The README's ways of copying the backups off the server.
COPY_RUNNING = "docker compose exec -T worker tar -C /var/lib/pushdock -cf - backups"
COPY_STOPPED = "docker run --rm -v pushdock_pushdock-data:/data:ro"


def readme_line(start: str) -> str:
    """The README's command line that begins so (the README is what users run)."""
    # A line ending in a backslash goes on in the next one, as in the shell.
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith(start)]
    assert len(lines) == 1, (start, lines)
    return lines[0]


def run_readme(stack: Stack, line: str, cwd: Path, **replaced: str) -> None:
    """A README command run as it is, `docker compose` being this stack's compose command
    and each `replaced` key (the README's example names) this stack's own."""
    command = line.replace("docker compose ", f"{shlex.join(stack.argv)} ")
    for example, own in replaced.items():
        command = command.replace(example, own)
    result = subprocess.run(["sh", "-c", command], cwd=cwd, env=stack.env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (command, result.stdout, result.stderr)


def backup_in(tar: Path, member: str) -> str:
    with tarfile.open(tar) as archive:
        names = archive.getnames()
        assert member in names, (member, names)
        return archive.extractfile(member).read().decode()  # type: ignore[union-attr]


def test_an_accessory_is_made_backed_up_and_kept_by_the_stack(setup: Setup,
                                                              docker_client) -> None:
    compose, project, host = setup.stack, setup.db_project, setup.db_host

    # The stack's worker starts PostgreSQL before the first deploy; the release inserts a
    # row through the project's network; the app counts the rows, through the caddy service.
    run = finished(compose, push(compose, project, setup.db_repo.commit("v1", files={
        ".pushdock.yml": DB_PIPELINE})))
    assert run["status"] == "success", (run["reason"], compose.request(
        "GET", f"/api/runs/{run['id']}/log")[1], compose.logs())
    assert compose.served(host) == (200, "1")
    [db] = docker_client.containers.list(filters={"label": [f"pushdock.project={project}",
                                                            "pushdock.role=accessory"]})
    started = db.attrs["State"]["StartedAt"]

    # `pushdock backup` in the worker container writes into the stack's pushdock-data volume.
    printed = compose("exec", "-T", "worker", "pushdock", "backup", project, "db")
    path = printed.strip().splitlines()[-1]
    assert re.fullmatch(rf"/var/lib/pushdock/backups/{project}/db/\d{{8}}T\d{{6}}Z\.sql",
                        path), printed
    member = "backups/" + path.removeprefix("/var/lib/pushdock/backups/")

    # Copied off the server exactly as the README says, the stack running and not.
    out = Path(tempfile.mkdtemp(prefix="pd-backups-"))
    try:
        run_readme(compose, readme_line(COPY_RUNNING), out)
        dump = backup_in(out / "backups.tar", member)
        assert "CREATE TABLE public.visits" in dump and "\nv1\n" in dump, dump[-2000:]
        (out / "backups.tar").unlink()

        # Down without -v: the accessory, its volume and the stack's volumes stay.
        compose("down", timeout=300)
        # The README's example names: the volume of the compose project `pushdock`, and a
        # Debian image (a stand-in here).
        run_readme(compose, readme_line(COPY_STOPPED), out, **{
            "pushdock_pushdock-data": f"{compose.name}_pushdock-data",
            "debian:bookworm-slim": STANDINS["python"]})
        assert backup_in(out / "backups.tar", member) == dump
    finally:
        shutil.rmtree(out, ignore_errors=True)

    # Up again: the app answers through the new caddy container with the row kept, from
    # the same database, never restarted.
    compose("up", "-d", timeout=600)
    wait_for(lambda: compose.served(host) == (200, "1"), timeout=120, interval=1,
             what="the app through the recreated caddy service")
    db.reload()
    assert (db.status, db.attrs["State"]["StartedAt"]) == ("running", started)
    # And the recreated worker deploys again beside the same database: two rows.
    run = finished(compose, push(compose, project, setup.db_repo.commit("v2")))
    assert run["status"] == "success", run["reason"]
    assert compose.served(host) == (200, "2")

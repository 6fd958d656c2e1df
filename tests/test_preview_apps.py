"""Preview apps on the real engine, a real Caddy, a real Redis and a real PostgreSQL: two pull
requests, two apps at their own hosts, each with a database of its own; the project's app
untouched; removal leaves nothing behind."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from pipeline.config import DeployTarget, PreviewSpec, Project, PullRequests
from pipeline.control import RunControl
from pipeline.deploy.bluegreen import BlueGreen
from pipeline.deploy.previews import PreviewRequest, Previews
from pipeline.model import (
    Approval,
    ApprovalNext,
    Color,
    Decision,
    ForkPolicy,
    PullRequest,
    PullRequestClosed,
    PushEvent,
    Run,
    RunStatus,
)
from pipeline.names import accessory_volume, preview_app, project_network
from pipeline.previews import FORK_NOT_APPROVED
from pipeline.reporting import Masker, StoreReporter
from pipeline.runner import Outcome, Runner
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess, remove_project_resources
from tests.support import SampleRepo, log_lines
from tests.test_bluegreen import FAST, app_containers, image_of, request, served
from tests.test_cli import pushdock
from tests.test_recovery import killed_while_checking_green, world  # noqa: F401 (a fixture)
from workers.previews import expire_previews, next_check, sync_expiry
from workers.pull_requests import close_pull_request
from workers.queue import job_connection


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def previews(deployer, docker_client, store: Store, project_name: str
             ) -> Iterator[tuple[Previews, Clock]]:
    bluegreen: BlueGreen = deployer[0]
    clock = Clock()
    yield Previews(docker_client, store, bluegreen.router, bluegreen.settings, deployer[1],
                   clock=clock), clock
    for number in range(1, 10):
        remove_project_resources(docker_client, preview_app(project_name, number) or "")


def pr(project: str, number: int, image: str, sha: str, run: str, limit: int = 3
       ) -> PreviewRequest:
    return PreviewRequest(project=project, number=number, host=f"pr-{{number}}.{project}.test",
                          limit=limit, image=image, sha=sha, run_id=run,
                          trigger="pull_request", spec=FAST, secrets={})


def ids(docker_client, app: str) -> set[str]:
    return {c.id for c in app_containers(docker_client, app)}


def gone(caddy: CaddyProcess, host: str) -> bool:
    return served(caddy, host) == ""  # Caddy's empty answer: no route matched


def test_two_previews_beside_the_project_and_one_removed(
        previews, deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    manager, _ = previews
    main, main_sha = image_of(docker_client, sample_repo, project_name, "main")
    bluegreen.deploy(request(project_name, main, main_sha, "1"))
    main_ids = ids(docker_client, project_name)
    one, sha1 = image_of(docker_client, sample_repo, project_name, "pr one")
    two, sha2 = image_of(docker_client, sample_repo, project_name, "pr two")
    manager.deploy(pr(project_name, 1, one, sha1, "2"))
    manager.deploy(pr(project_name, 2, two, sha2, "3"))

    assert served(caddy, f"pr-1.{project_name}.test") == "pr one"
    assert served(caddy, f"pr-2.{project_name}.test") == "pr two"
    assert served(caddy, f"{project_name}.test") == "main"
    assert ids(docker_client, project_name) == main_ids  # the project's app is untouched
    [first] = app_containers(docker_client, f"{project_name}--pr1")
    assert first.name == f"pushdock-{project_name}--pr1-blue"
    assert project_network(f"{project_name}--pr1") in first.attrs["NetworkSettings"]["Networks"]
    assert [(p.number, p.sha) for p in store.previews.of(project_name)] == [(1, sha1), (2, sha2)]

    # A new commit redeploys the preview blue/green.
    newer, sha3 = image_of(docker_client, sample_repo, project_name, "pr one again")
    manager.deploy(pr(project_name, 1, newer, sha3, "4"))
    assert served(caddy, f"pr-1.{project_name}.test") == "pr one again"
    live = store.live.get(f"{project_name}--pr1")
    assert live is not None and live.color is Color.GREEN and live.sha == sha3
    assert len(store.previews.of(project_name)) == 2

    app = f"{project_name}--pr1"
    # A volume made for the preview (as its accessories' are), and one of the project's.
    own = docker_client.volumes.create(f"pushdock-{app}-db-data",
                                       labels={"pushdock.project": app})
    kept = docker_client.volumes.create(f"pushdock-{project_name}-db-data",
                                        labels={"pushdock.project": project_name})
    removed = manager.remove(project_name, 1)
    assert removed is not None and removed.volumes == (own.name,)
    assert [v.name for v in docker_client.volumes.list(
        filters={"label": f"pushdock.project={project_name}"})] == [kept.name]
    kept.remove()
    assert removed is not None and removed.route
    assert app_containers(docker_client, app) == []
    assert docker_client.containers.list(
        all=True, filters={"label": f"pushdock.project={app}"}) == []
    assert docker_client.networks.list(names=[project_network(app)]) == []
    assert gone(caddy, f"pr-1.{project_name}.test")
    assert store.upstreams.get(app) is None and store.live.get(app) is None
    assert store.deployments.history(app) == []
    tags = {tag for image in docker_client.images.list() for tag in image.tags}
    assert one not in tags and newer not in tags  # the preview's images
    assert main in tags and two in tags  # the project's and the other preview's
    assert [p.number for p in store.previews.of(project_name)] == [2]
    assert served(caddy, f"pr-2.{project_name}.test") == "pr two"
    assert served(caddy, f"{project_name}.test") == "main"
    assert ids(docker_client, project_name) == main_ids
    assert manager.remove(project_name, 1) is None  # nothing left to remove


def test_the_limit_removes_the_oldest_and_expire_the_idle(
        previews, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    manager, clock = previews
    images = [image_of(docker_client, sample_repo, project_name, f"pr {n}") for n in (1, 2, 3)]
    for number, (image, sha) in enumerate(images, start=1):
        manager.deploy(pr(project_name, number, image, sha, str(number), limit=2))
        clock.now += 3600
    assert [p.number for p in store.previews.of(project_name)] == [2, 3]
    assert app_containers(docker_client, f"{project_name}--pr1") == []
    assert gone(caddy, f"pr-1.{project_name}.test")
    assert served(caddy, f"pr-3.{project_name}.test") == "pr 3"

    # #2 was pushed two hours before the clock, #3 one hour before.
    assert manager.expire(project_name, 3 * 3600) == []
    [removed] = manager.expire(project_name, 2 * 3600)
    assert removed.app == f"{project_name}--pr2"
    assert [p.number for p in store.previews.of(project_name)] == [3]
    assert gone(caddy, f"pr-2.{project_name}.test")
    assert served(caddy, f"pr-3.{project_name}.test") == "pr 3"


def run_pull_request(bluegreen: BlueGreen, docker_client, store: Store, project: Project,
                     sha: str, pull: PullRequest, approval: Approval | None = None
                     ) -> tuple[Run, Outcome]:
    run = store.runs.create(PushEvent(project=project.name, branch=pull.key, sha=sha))
    run = replace(run, trigger="pull_request", pr=pull, approval=approval)
    store.runs.start(run.id)
    reporter = StoreReporter(store, run.id, Masker(project.secrets.values()))
    with RunControl(timeout=300) as control:
        outcome = Runner(bluegreen.settings, docker_client, reporter, control,
                         store).execute(run, project, source=Path(project.repo))
    return run, outcome


def test_a_pull_request_run_deploys_its_preview_and_never_the_project(
        previews, deployer, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    bluegreen, _ = deployer
    project = Project(name=project_name, repo=str(sample_repo.path), webhook_secret="s",
                      deploy=DeployTarget(branch="main", host=f"{project_name}.test"),
                      secrets={"API_KEY": "k"},
                      pull_requests=PullRequests(forks=ForkPolicy.RUN, preview=PreviewSpec(
                          host=f"pr-{{number}}.{project_name}.test")))
    # A fork's run that no one approved (`forks: run`) runs, and deploys nothing.
    sha = sample_repo.commit("from a fork")
    run, outcome = run_pull_request(bluegreen, docker_client, store, project, sha,
                                    PullRequest(number=7, fork=True))
    assert outcome.status is RunStatus.SUCCESS, outcome.reason
    assert FORK_NOT_APPROVED in log_lines(store, run.id)
    assert store.previews.of(project_name) == []
    assert app_containers(docker_client, f"{project_name}--pr7") == []

    # Approved, it gets its preview, without secrets; the project's app is never deployed.
    approved = Approval(next=ApprovalNext.RUN, reason="fork", since=time.time(),
                        decision=Decision.APPROVED, by="alice", at=time.time())
    run, outcome = run_pull_request(bluegreen, docker_client, store, project, sha,
                                    PullRequest(number=7, fork=True), approved)
    assert outcome.status is RunStatus.SUCCESS, outcome.reason
    assert served(caddy, f"pr-7.{project_name}.test") == "from a fork"
    assert app_containers(docker_client, project_name) == []  # nothing at deploy.host
    [container] = app_containers(docker_client, f"{project_name}--pr7")
    assert not any(e.startswith("API_KEY=") for e in container.attrs["Config"]["Env"])
    assert [(p.number, p.run) for p in store.previews.of(project_name)] == [(7, run.id)]

    # The project's own pull request: its preview has the secrets.
    sha = sample_repo.commit("from a branch")
    run, outcome = run_pull_request(bluegreen, docker_client, store, project, sha,
                                    PullRequest(number=8))
    assert outcome.status is RunStatus.SUCCESS, outcome.reason
    assert served(caddy, f"pr-8.{project_name}.test") == "from a branch"
    [container] = app_containers(docker_client, f"{project_name}--pr8")
    assert "API_KEY=k" in container.attrs["Config"]["Env"]



def settings_env(settings: Settings) -> dict[str, str]:
    return {"PUSHDOCK_REDIS_URL": settings.redis_url or "",
            "PUSHDOCK_CADDY_ADMIN": settings.caddy_admin,
            "PUSHDOCK_PROXY_LISTEN": settings.proxy_listen,
            "PUSHDOCK_APPS_NETWORK": settings.apps_network,
            "PUSHDOCK_RESOLVER": settings.resolver or "",
            "PUSHDOCK_CONFIG_DIR": str(settings.config_dir)}


def test_the_command_line_lists_and_removes_and_the_worker_expires(
        previews, docker_client, base_image: str, project_name: str,
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    manager, clock = previews
    settings = manager.settings
    one, sha1 = image_of(docker_client, sample_repo, project_name, "pr 1")
    two, sha2 = image_of(docker_client, sample_repo, project_name, "pr 2")
    manager.deploy(pr(project_name, 1, one, sha1, "1"))
    clock.now = time.time() - 3 * 3600  # #2 was last pushed three hours ago
    manager.deploy(pr(project_name, 2, two, sha2, "2"))

    # The commands, like the worker, know the project by its file.
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / f"{project_name}.yml").write_text(
        f"project: {project_name}\nrepo: {sample_repo.path}\nwebhook_secret: s\n"
        f"pull_requests:\n  preview:\n    host: 'pr-{{number}}.{project_name}.test'\n"
        "    expire: 4h\n")
    listed = pushdock("previews", project_name, env=settings_env(settings))
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert [row.split()[:3] for row in rows] == [
        ["#1", f"pr-1.{project_name}.test", sha1[:7]], ["#2", f"pr-2.{project_name}.test",
                                                      sha2[:7]]]
    assert rows[1].endswith("3h00m ago")

    removed = pushdock("preview", project_name, "1", "remove", env=settings_env(settings))
    assert removed.returncode == 0, removed.stderr
    assert "the preview of #1 is removed" in removed.stdout
    assert app_containers(docker_client, f"{project_name}--pr1") == []
    assert gone(caddy, f"pr-1.{project_name}.test")
    again = pushdock("preview", project_name, "1", "remove", env=settings_env(settings))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert f"{project_name} has no preview of pull request #1" in again.stderr

    # The worker's check reads `expire` from the project file.
    assert expire_previews(settings) == []
    (settings.config_dir / f"{project_name}.yml").write_text(
        (settings.config_dir / f"{project_name}.yml").read_text().replace("4h", "2h"))
    [expired] = expire_previews(settings)
    assert expired.app == f"{project_name}--pr2"
    assert store.previews.of(project_name) == []
    assert gone(caddy, f"pr-2.{project_name}.test")
    assert pushdock("previews", project_name, env=settings_env(settings)).stdout.strip() \
        == f"pushdock: {project_name}: no previews"


def test_one_expiry_check_is_pending_whoever_asks(redis_url: str) -> None:
    queue = Queue(f"test-{uuid.uuid4().hex[:8]}", connection=job_connection(redis_url))
    first = sync_expiry(queue, now=1_000_000)
    assert first == f"preview-expiry-{next_check(1_000_000)}" and next_check(1_000_000) > 1_000_000
    assert sync_expiry(queue, now=1_000_000) is None
    assert sync_expiry(queue, now=2_000_000) is None
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [first]
    ScheduledJobRegistry(queue=queue).remove(first, delete_job=True)


def test_a_closed_pull_request_s_preview_is_removed_by_a_worker(
        previews, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess, redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    manager, _ = previews
    image, sha = image_of(docker_client, sample_repo, project_name, "pr 4")
    manager.deploy(pr(project_name, 4, image, sha, "1"))
    assert served(caddy, f"pr-4.{project_name}.test") == "pr 4"
    project = Project(name=project_name, repo=str(sample_repo.path), webhook_secret="s",
                      pull_requests=PullRequests(preview=PreviewSpec(
                          host=f"pr-{{number}}.{project_name}.test")))
    queue = Queue(f"test-{uuid.uuid4().hex[:8]}", connection=job_connection(redis_url))
    close_pull_request(store, queue, project, PullRequestClosed(
        project=project_name, pr=PullRequest(number=4), merged=True))
    assert queue.get_job_ids() == [f"preview-remove-{project_name}-4"]
    assert served(caddy, f"pr-4.{project_name}.test") == "pr 4"  # the web side waits on nothing

    for name, value in settings_env(manager.settings).items():
        monkeypatch.setenv(name, value)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert app_containers(docker_client, f"{project_name}--pr4") == []
    assert gone(caddy, f"pr-4.{project_name}.test")
    assert store.previews.of(project_name) == []


def test_recovery_puts_a_preview_right_as_its_own_app(
        previews, world, docker_client, base_image: str, project_name: str,  # noqa: F811
        sample_repo: SampleRepo, store: Store, caddy: CaddyProcess) -> None:
    settings, bluegreen, recovery = world
    manager = Previews(docker_client, store, bluegreen.router, settings, bluegreen.reporter)
    main, main_sha = image_of(docker_client, sample_repo, project_name, "main")
    bluegreen.deploy(request(project_name, main, main_sha, "1"))
    main_ids = ids(docker_client, project_name)
    one, sha1 = image_of(docker_client, sample_repo, project_name, "pr one")
    manager.deploy(pr(project_name, 1, one, sha1, "2"))
    app = f"{project_name}--pr1"

    # A worker killed while it health-checks the preview's new colour (a redeploy).
    newer, sha2 = image_of(docker_client, sample_repo, project_name, "pr one again")
    killed_while_checking_green(settings, store, docker_client, app, newer, sha2)
    # And Caddy restarted meanwhile, from a config with no routes (nor Pushdock's server).
    caddy.stop()
    caddy.start()

    assert sorted(recovery.restore_routes()) == sorted([project_name, app])
    done = {r.project: r for r in recovery.reconcile_all()}
    assert done[app].stopped == (f"pushdock-{app}-green",)
    assert done[project_name].stopped == ()
    assert served(caddy, f"pr-1.{project_name}.test") == "pr one"
    assert served(caddy, f"{project_name}.test") == "main"
    assert ids(docker_client, project_name) == main_ids
    assert [c.name for c in app_containers(docker_client, app)] == [f"pushdock-{app}-blue"]
    assert store.deployments.in_progress(app) is None


def test_each_preview_has_its_own_database(
        previews, deployer, docker_client, project_name: str, db_app: SampleRepo,
        postgres_image: str, store: Store, caddy: CaddyProcess) -> None:
    """The release of each deploy adds a row: the count each app answers is its own."""
    from tests.test_accessories import count, db_spec, deploy_request, postgres

    bluegreen, _ = deployer
    manager, _ = previews
    db = postgres(postgres_image)
    main, main_sha = image_of(docker_client, db_app, project_name, "main")
    bluegreen.deploy(deploy_request(project_name, main, main_sha, "1", db))
    main_ids = ids(docker_client, project_name)
    for number in (1, 2):
        image, sha = image_of(docker_client, db_app, project_name, f"pr {number}")
        manager.deploy(replace(pr(project_name, number, image, sha, str(number + 1)),
                               spec=db_spec(), accessories=(db,)))
    newer, sha = image_of(docker_client, db_app, project_name, "pr 1 again")
    manager.deploy(replace(pr(project_name, 1, newer, sha, "4"), spec=db_spec(),
                           accessories=(db,)))
    assert count(caddy, f"pr-1.{project_name}.test") == "2"  # its two deploys' rows
    assert count(caddy, f"pr-2.{project_name}.test") == "1"
    assert count(caddy, f"{project_name}.test") == "1"  # none of the previews' rows
    assert ids(docker_client, project_name) == main_ids
    volume = accessory_volume(f"{project_name}--pr1", "db", "data")
    assert docker_client.volumes.get(volume).name == volume

    removed = manager.remove(project_name, 1)
    assert removed is not None and removed.volumes == (volume,)
    assert f"pushdock-{project_name}--pr1-db" in removed.containers
    assert docker_client.volumes.list(filters={"name": volume}) == []
    assert count(caddy, f"pr-2.{project_name}.test") == "1"
    assert count(caddy, f"{project_name}.test") == "1"
    assert docker_client.volumes.get(accessory_volume(project_name, "db", "data"))

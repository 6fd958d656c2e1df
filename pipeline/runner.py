"""One run, stage by stage: checkout → config → build → test → deploy.

The runner reports stages and log lines to a Reporter and obeys a RunControl; recording the
run's own status is the caller's job, so the same runner serves queued runs (Redis) and
local runs (the terminal).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, NotFound
from docker.models.networks import Network

from pipeline.build import build_image
from pipeline.control import RunControl
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import ConfigError, PushdockError, RunStopped, StepFailed
from pipeline.images import ensure_image
from pipeline.model import (
    PipelineSpec,
    Project,
    Run,
    RunStatus,
    StageName,
    StageStatus,
)
from pipeline.names import (
    RUN_ROLES,
    Role,
    role_of_labels,
    run_filters,
    run_labels,
    run_network,
    workspace_name,
)
from pipeline.reporting import Reporter
from pipeline.services import Services
from pipeline.settings import Settings
from pipeline.source import Sources
from pipeline.spec import SPEC_FILENAME, parse_spec
from pipeline.steps import StepResult, run_step, step_container_spec
from pipeline.store import Store
from pipeline.units import format_duration


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    reason: str = ""


def deploys(project: Project, branch: str) -> bool:
    """Whether a run of this branch ends with a deploy."""
    return project.deploy.host is not None and branch == project.deploy.branch


def step_failure(name: str, result: StepResult, *, memory: int, timeout: float) -> str:
    if result.timed_out:
        return f"step {name} timed out after {format_duration(timeout)}"
    if result.out_of_memory:
        return f"step {name} ran out of memory (limit {memory // (1024 * 1024)} MiB)"
    return f"step {name} failed with exit code {result.exit_code}"


def load_pipeline(workspace: Path, project: Project, reporter: Reporter) -> PipelineSpec:
    path = workspace / SPEC_FILENAME
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"{SPEC_FILENAME} must be a regular file")
    if path.is_file():
        reporter.log(f"using {SPEC_FILENAME} from the repository")
        return parse_spec(path.read_bytes(), SPEC_FILENAME)
    if project.pipeline is not None:
        reporter.log(f"no {SPEC_FILENAME} in the repository: using the pipeline of "
                     f"{project.path}")
        return project.pipeline
    reporter.log(f"no {SPEC_FILENAME} in the repository: building the Dockerfile with defaults")
    return PipelineSpec()


def remove_run_resources(client: docker.DockerClient, project: str, run_id: str) -> None:
    """Remove the step and service containers and the network of a run, whatever its state."""
    for role in RUN_ROLES:
        for container in client.containers.list(
                all=True, filters={"label": run_filters(project, run_id, role)}):
            try:
                container.remove(force=True)
            except (NotFound, APIError):
                pass
    for network in client.networks.list(filters={"label": run_filters(project, run_id)}):
        remove_network(network)


def remove_network(network: Network) -> None:
    """Remove a run's network, first detaching what is still on it (a containerised worker
    that joined it to probe services and was lost before it left)."""
    try:
        network.reload()
        for container in network.containers:
            network.disconnect(container, force=True)
        network.remove()
    except (NotFound, APIError):
        pass


def kill_run_containers(client: docker.DockerClient, project: str, run_id: str) -> None:
    """Stop a run's steps and services at once (a cancel must take effect within seconds)."""
    for container in client.containers.list(filters={"label": run_filters(project, run_id)}):
        if role_of_labels(container.labels) in RUN_ROLES:
            try:
                container.kill()
            except (NotFound, APIError):
                pass


@dataclass
class Runner:
    settings: Settings
    docker: docker.DockerClient
    reporter: Reporter
    control: RunControl
    store: Store | None = None  # needed only to deploy

    def execute(self, run: Run, project: Project, *, source: Path | None = None,
                deploy: bool = True) -> Outcome:
        """Run every stage; `source` builds that directory as it is instead of a checkout."""
        reporter = self.reporter
        sources = Sources(self.settings.data_dir)
        workspace = sources.workspaces / workspace_name(project.name, run.id)
        self.control.on_stop(lambda: kill_run_containers(self.docker, project.name, run.id))
        stage = StageName.CHECKOUT
        try:
            reporter.stage(stage, StageStatus.RUNNING)
            if source is None:
                sources.checkout(project, run.sha, workspace.name, reporter)
            else:
                workspace = source
                reporter.log(f"using the working tree {source} as it is")
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.CONFIG
            self.control.check()
            reporter.stage(stage, StageStatus.RUNNING)
            spec = load_pipeline(workspace, project, reporter)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.BUILD
            self.control.check()
            reporter.stage(stage, StageStatus.RUNNING)
            image = build_image(self.docker, spec.build, workspace, project.name, run.sha,
                                reporter, check=self.control.check)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.TEST
            self.control.check()
            reporter.stage(stage, StageStatus.RUNNING)
            self._test(run, project, spec, image)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.DEPLOY
            self.control.check()
            if deploy and deploys(project, run.branch):
                reporter.stage(stage, StageStatus.RUNNING)
                self._deploy(run, project, spec, image)
                reporter.stage(stage, StageStatus.SUCCESS)
            else:
                reporter.stage(stage, StageStatus.SKIPPED)
            return Outcome(RunStatus.SUCCESS)
        except RunStopped as stop:
            reporter.log(f"{stage.value}: {stop}")
            reporter.stage(stage, StageStatus.FAILED)
            return Outcome(RunStatus(stop.status), str(stop))
        except PushdockError as exc:
            stopped = self.control.stopped  # a step killed by a cancel fails as cancelled
            if stopped is not None:
                reporter.log(f"{stage.value}: {stopped.reason}")
                reporter.stage(stage, StageStatus.FAILED)
                return Outcome(stopped.status, stopped.reason)
            reporter.log(f"{stage.value} failed: {exc}")
            reporter.stage(stage, StageStatus.FAILED)
            return Outcome(RunStatus.FAILED, str(exc))
        except Exception as exc:  # a bug or an engine fault: keep the run honest, not "running"
            for line in traceback.format_exc().splitlines():
                reporter.log(line)
            reporter.stage(stage, StageStatus.FAILED)
            return Outcome(RunStatus.ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            remove_run_resources(self.docker, project.name, run.id)
            if source is None:
                sources.remove_workspace(project.name, workspace)

    def _test(self, run: Run, project: Project, spec: PipelineSpec, image: str) -> None:
        reporter = self.reporter
        if not spec.test.steps:
            reporter.log("no test steps")
            return
        # A private network only when there are services to reach: creating one costs time.
        network = "bridge"
        if spec.test.services:
            network = run_network(project.name, run.id)
            self.docker.networks.create(network, driver="bridge",
                                        labels=run_labels(project.name, run.id, Role.NETWORK))
        services = Services(self.docker, reporter, self.control)
        try:
            services.start(spec.test.services, resources=spec.test.resources,
                           project=project.name, run_id=run.id, network=network)
            env = {"CI": "true", "PUSHDOCK": "true", "PUSHDOCK_SHA": run.sha,
                   "PUSHDOCK_BRANCH": run.branch, "PUSHDOCK_RUN": run.id, **project.secrets}
            for step in spec.test.steps:
                self.control.check()
                reporter.log(f"── step {step.name}: {step.run}")
                if step.image:
                    ensure_image(self.docker, step.image, reporter)
                container = step_container_spec(step, image=image,
                                                resources=spec.test.resources, env=env,
                                                project=project.name, run_id=run.id,
                                                network=network)
                result = run_step(self.docker, container, step.timeout, reporter)
                self.control.check()
                if not result.ok:
                    raise StepFailed(step_failure(step.name, result, timeout=step.timeout,
                                                  memory=spec.test.resources.memory))
                reporter.log(f"── step {step.name} passed")
        finally:
            if services.started:
                services.keep_logs()

    def _deploy(self, run: Run, project: Project, spec: PipelineSpec, image: str) -> None:
        if self.store is None:
            raise ConfigError("deploying needs Redis (PUSHDOCK_REDIS_URL); use --no-deploy")
        assert project.deploy.host is not None
        router = CaddyRouter.from_settings(self.settings, self.store)
        BlueGreen(self.docker, self.store, router, self.settings, self.reporter).deploy(
            DeployRequest(project=project.name, host=project.deploy.host, image=image,
                          sha=run.sha, run_id=run.id, trigger=run.trigger,
                          spec=spec.deploy, secrets=project.secrets))

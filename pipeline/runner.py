"""One run, stage by stage: checkout → config → build → test → deploy."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from pipeline.build import build_image
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import ConfigError, PushdockError, StepFailed
from pipeline.model import (
    PipelineSpec,
    Project,
    Run,
    RunStatus,
    StageName,
    StageStatus,
)
from pipeline.reporting import Masker, Reporter, StoreReporter
from pipeline.settings import Settings
from pipeline.source import Sources
from pipeline.spec import SPEC_FILENAME, parse_spec
from pipeline.steps import LABEL_ROLE, LABEL_RUN, StepResult, run_step, step_container_kwargs
from pipeline.store import Store
from pipeline.units import format_duration

RUN_STAGES = (StageName.CHECKOUT, StageName.CONFIG, StageName.BUILD, StageName.TEST,
              StageName.DEPLOY)


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


@dataclass
class Runner:
    settings: Settings
    store: Store
    docker: docker.DockerClient

    def execute(self, run_id: str, project: Project) -> Run:
        run = self.store.start_run(run_id)
        reporter = StoreReporter(self.store, run.id, Masker(project.secrets.values()))
        sources = Sources(self.settings.data_dir)
        workspace = sources.workspaces / f"{project.name}-run{run.id}"
        network = f"pushdock-run{run.id}"
        stage = StageName.CHECKOUT
        try:
            reporter.stage(stage, StageStatus.RUNNING)
            sources.checkout(project, run.sha, workspace.name, reporter)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.CONFIG
            reporter.stage(stage, StageStatus.RUNNING)
            spec = load_pipeline(workspace, project, reporter)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.BUILD
            reporter.stage(stage, StageStatus.RUNNING)
            image = build_image(self.docker, spec.build, workspace, project.name, run.sha,
                                reporter)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.TEST
            reporter.stage(stage, StageStatus.RUNNING)
            self._test(run, project, spec, image, network, reporter)
            reporter.stage(stage, StageStatus.SUCCESS)

            stage = StageName.DEPLOY
            if deploys(project, run.branch):
                reporter.stage(stage, StageStatus.RUNNING)
                assert project.deploy.host is not None
                router = CaddyRouter(self.settings.caddy_admin, self.settings.proxy_listen)
                BlueGreen(self.docker, self.store, router, self.settings, reporter).deploy(
                    DeployRequest(project=project.name, host=project.deploy.host, image=image,
                                  sha=run.sha, run_id=run.id, trigger=run.trigger,
                                  spec=spec.deploy, secrets=project.secrets))
                reporter.stage(stage, StageStatus.SUCCESS)
            else:
                reporter.stage(stage, StageStatus.SKIPPED)
            return self.store.finish_run(run.id, RunStatus.SUCCESS)
        except PushdockError as exc:
            reporter.log(f"{stage.value} failed: {exc}")
            reporter.stage(stage, StageStatus.FAILED)
            return self.store.finish_run(run.id, RunStatus.FAILED, reporter.mask(str(exc)))
        except Exception as exc:  # a bug or an engine fault: keep the run honest, not "running"
            for line in traceback.format_exc().splitlines():
                reporter.log(line)
            reporter.stage(stage, StageStatus.FAILED)
            return self.store.finish_run(run.id, RunStatus.ERROR,
                                         reporter.mask(f"{type(exc).__name__}: {exc}"))
        finally:
            self._clean_up(run.id, network)
            sources.remove_workspace(project.name, workspace)

    def _test(self, run: Run, project: Project, spec: PipelineSpec, image: str, network: str,
              reporter: Reporter) -> None:
        if not spec.test.steps:
            reporter.log("no test steps")
            return
        self.docker.networks.create(network, driver="bridge",
                                    labels={LABEL_RUN: run.id, "pushdock.project": project.name})
        env = {"CI": "true", "PUSHDOCK": "true", "PUSHDOCK_SHA": run.sha,
               "PUSHDOCK_BRANCH": run.branch, "PUSHDOCK_RUN": run.id, **project.secrets}
        for step in spec.test.steps:
            reporter.log(f"── step {step.name}: {step.run}")
            kwargs = step_container_kwargs(step, image=image, resources=spec.test.resources,
                                           env=env, project=project.name, run_id=run.id,
                                           network=network)
            result = run_step(self.docker, kwargs, step.timeout, reporter)
            if not result.ok:
                raise StepFailed(step_failure(step.name, result, timeout=step.timeout,
                                              memory=spec.test.resources.memory))
            reporter.log(f"── step {step.name} passed")

    def _clean_up(self, run_id: str, network: str) -> None:
        """Remove whatever this run created on the engine, however it ended."""
        for container in self.docker.containers.list(
                all=True, filters={"label": [f"{LABEL_RUN}={run_id}", f"{LABEL_ROLE}=step"]}):
            try:
                container.remove(force=True)
            except (NotFound, APIError):
                pass
        for net in self.docker.networks.list(names=[network]):
            try:
                net.remove()
            except (NotFound, APIError):
                pass

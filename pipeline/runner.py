"""One run, stage by stage: checkout → config → build → test → deploy.

The runner reports stages and log lines to a Reporter and obeys a RunControl; recording the
run's own status is the caller's job, so the same runner serves queued runs (Redis) and
local runs (the terminal).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import docker

from pipeline.build import build_image
from pipeline.build_bounds import build_guard
from pipeline.ceilings import Ceilings
from pipeline.config import PipelineSpec, Project
from pipeline.control import RunControl
from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.previews import PreviewRequest, Previews
from pipeline.deploy.router import CaddyRouter
from pipeline.errors import (
    ConfigError,
    ImageUnavailable,
    PushdockError,
    RunStopped,
    StepFailed,
    WaitForApproval,
)
from pipeline.images import ensure_image
from pipeline.model import ApprovalNext, Run, RunStatus, StageName, StageStatus
from pipeline.names import Role, cache_scope, image_tag, run_labels, run_network, workspace_name
from pipeline.previews import no_preview_reason, preview_spec
from pipeline.procfile import PROCFILE, apply_procfile, read_procfile
from pipeline.pull_requests import NEVER_DEPLOYS, NO_SECRETS, project_for, trusted
from pipeline.reporting import Reporter
from pipeline.run_resources import kill_run_containers, remove_run_resources
from pipeline.services import Services
from pipeline.settings import Settings
from pipeline.source import Sources
from pipeline.spec import SPEC_FILENAME, parse_spec, read_spec_file
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


WAITING_TO_DEPLOY = "waiting for approval to deploy"


def approved_to_deploy(run: Run) -> bool:
    """Whether a person approved this run's deploy: it goes on from its deploy stage."""
    return (run.approval is not None and run.approval.approved
            and run.approval.next is ApprovalNext.DEPLOY)


def step_failure(name: str, result: StepResult, *, memory: int, timeout: float) -> str:
    if result.timed_out:
        return f"step {name} timed out after {format_duration(timeout)}"
    if result.out_of_memory:
        return f"step {name} ran out of memory (limit {memory // (1024 * 1024)} MiB)"
    return f"step {name} failed with exit code {result.exit_code}"


def load_pipeline(workspace: Path, project: Project, reporter: Reporter,
                  ceilings: Ceilings | None = None) -> PipelineSpec:
    spec = _load_spec(workspace, project, reporter, ceilings)
    types = read_procfile(workspace)
    if types is None:
        return spec
    reporter.log(f"{PROCFILE}: " + ", ".join(each.name for each in types))
    return replace(spec, deploy=apply_procfile(spec.deploy, types))


def _load_spec(workspace: Path, project: Project, reporter: Reporter,
               ceilings: Ceilings | None) -> PipelineSpec:
    path = workspace / SPEC_FILENAME
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"{SPEC_FILENAME} must be a regular file")
    if path.is_file():
        reporter.log(f"using {SPEC_FILENAME} from the repository")
        return parse_spec(read_spec_file(path), SPEC_FILENAME, ceilings)
    if project.pipeline is not None:
        reporter.log(f"no {SPEC_FILENAME} in the repository: using the pipeline of "
                     f"{project.path}")
        return project.pipeline
    reporter.log(f"no {SPEC_FILENAME} in the repository: building the Dockerfile with defaults")
    return PipelineSpec()


@dataclass(frozen=True)
class RunJob:
    """What one execution works on, handed to every stage."""

    run: Run
    project: Project
    source: Path | None  # a directory built as it is, instead of a checkout of run.sha
    deploy: bool  # whether a run of the deploy branch may deploy (not `--no-deploy`)


@dataclass(frozen=True)
class Progress:
    """What the stages so far made: each stage takes it and returns the next."""

    workspace: Path
    spec: PipelineSpec | None = None
    image: str = ""
    sha: str = ""  # the full commit id, when the run was queued with an abbreviated one

    @property
    def pipeline(self) -> PipelineSpec:
        assert self.spec is not None, "the config stage comes first"
        return self.spec


StageStep = Callable[[RunJob, Progress], Progress]


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
        sources = Sources(self.settings.data_dir)
        project = project_for(run, project)  # the one place a fork's run loses its secrets
        job = RunJob(run, project, source, deploy)
        progress = Progress(source or sources.workspaces / workspace_name(project.name, run.id))
        self.control.on_stop(lambda: kill_run_containers(self.docker, project.name, run.id))
        stage = StageName.CHECKOUT
        try:
            for stage, step in self._stages(sources):
                self.control.check()
                progress = self._run_stage(stage, step, job, progress)
                if progress.sha and progress.sha != job.run.sha:
                    job = replace(job, run=replace(job.run, sha=progress.sha))
            return Outcome(RunStatus.SUCCESS)
        except Exception as exc:  # told apart in _failed: stopped, failed, or a fault
            return self._failed(stage, exc)
        finally:
            remove_run_resources(self.docker, project.name, run.id)
            if source is None:
                sources.remove_workspace(project.name, progress.workspace)

    def _stages(self, sources: Sources) -> list[tuple[StageName, StageStep]]:
        def checkout(job: RunJob, progress: Progress) -> Progress:
            if job.source is not None:
                self.reporter.log(f"using the working tree {job.source} as it is")
                return progress
            sha = job.run.sha
            if job.run.pr is not None:
                sha = self._fetch_pull_request(sources, job)
            sources.checkout(job.project, sha, progress.workspace.name, self.reporter)
            return replace(progress, sha=sha)

        return [(StageName.CHECKOUT, checkout), (StageName.CONFIG, self._config),
                (StageName.BUILD, self._build), (StageName.TEST, self._test_stage),
                (StageName.DEPLOY, self._deploy_stage)]

    def _fetch_pull_request(self, sources: Sources, job: RunJob) -> str:
        run = job.run
        assert run.pr is not None
        fork = " from a fork" if run.pr.fork else ""
        self.reporter.log(f"pull request #{run.pr.number}{fork}: {run.pr.title}")
        if not trusted(run):
            self.reporter.log(NO_SECRETS)
        sha = sources.fetch_pull_request(job.project, run.pr.ref, run.sha, self.reporter)
        if sha != run.sha and self.store is not None:
            self.store.runs.resolve_sha(run.id, sha)
        return sha

    def _run_stage(self, stage: StageName, step: StageStep, job: RunJob,
                   progress: Progress) -> Progress:
        preview = preview_spec(job.project, job.run)
        if stage is StageName.DEPLOY and job.run.pr is not None and preview is None:
            self.reporter.log(no_preview_reason(job.project, job.run) or NEVER_DEPLOYS)
            self.reporter.stage(stage, StageStatus.SKIPPED)
            return progress
        if stage is StageName.DEPLOY and not (job.deploy and job.run.deploy and (
                preview is not None or deploys(job.project, job.run.branch))):
            self.reporter.stage(stage, StageStatus.SKIPPED)
            return progress
        if stage is StageName.DEPLOY and preview is None and job.project.deploy.approval \
                and not approved_to_deploy(job.run):
            self.reporter.log(f"tests passed: {WAITING_TO_DEPLOY}")
            raise WaitForApproval(WAITING_TO_DEPLOY)
        if approved_to_deploy(job.run) and stage in (StageName.BUILD, StageName.TEST):
            return self._before_approval(stage, job, progress)
        self.reporter.stage(stage, StageStatus.RUNNING)
        progress = step(job, progress)
        self.reporter.stage(stage, StageStatus.SUCCESS)
        return progress

    def _before_approval(self, stage: StageName, job: RunJob, progress: Progress) -> Progress:
        """An approved run goes on with the image it built and tested before it waited."""
        if stage is StageName.TEST:
            self.reporter.log("tests passed before the approval: not run again")
            return progress
        image = image_tag(job.project.name, job.run.sha)
        try:
            self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            raise ImageUnavailable(f"the image {image} built before the approval is gone "
                                   "from the engine: push the commit again") from None
        self.reporter.log(f"approved by {job.run.approval.by if job.run.approval else '?'}: "
                          f"deploying {image}, built before the approval")
        return replace(progress, image=image)

    def _failed(self, stage: StageName, exc: Exception) -> Outcome:
        """The outcome of a stage that raised, logged and reported."""
        reporter = self.reporter
        if isinstance(exc, WaitForApproval):
            return Outcome(RunStatus.WAITING, str(exc))  # its stage stays pending
        if isinstance(exc, RunStopped):
            outcome = Outcome(RunStatus(exc.status), str(exc))
            reporter.log(f"{stage.value}: {exc}")
        elif isinstance(exc, PushdockError) and self.control.stopped is not None:
            # A step killed by a cancel fails; the run ends as the cancel said.
            stopped = self.control.stopped
            outcome = Outcome(stopped.status, stopped.reason)
            reporter.log(f"{stage.value}: {stopped.reason}")
        elif isinstance(exc, PushdockError):
            outcome = Outcome(RunStatus.FAILED, str(exc))
            reporter.log(f"{stage.value} failed: {exc}")
        else:  # a bug or an engine fault: keep the run honest, not "running"
            for line in traceback.format_exception(exc):
                for part in line.rstrip("\n").splitlines():
                    reporter.log(part)
            outcome = Outcome(RunStatus.ERROR, f"{type(exc).__name__}: {exc}")
        reporter.stage(stage, StageStatus.FAILED)
        return outcome

    def _config(self, job: RunJob, progress: Progress) -> Progress:
        spec = load_pipeline(progress.workspace, job.project, self.reporter,
                             self.settings.ceilings)
        return replace(progress, spec=spec)

    def _build(self, job: RunJob, progress: Progress) -> Progress:
        image = build_image(progress.pipeline.build, progress.workspace,
                            job.project.name, job.run.sha, self.reporter,
                            check=self.control.check, secrets=job.project.secrets,
                            guard=build_guard(self.docker.info(), self.settings),
                            scope=cache_scope(job.project.name, trusted=trusted(job.run)),
                            pull_request=job.run.pr.number if job.run.pr else None)
        return replace(progress, image=image)

    def _test_stage(self, job: RunJob, progress: Progress) -> Progress:
        self._test(job.run, job.project, progress.pipeline, progress.image)
        return progress

    def _deploy_stage(self, job: RunJob, progress: Progress) -> Progress:
        self._deploy(job.run, job.project, progress.pipeline, progress.image)
        return progress

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
        router = CaddyRouter.from_settings(self.settings, self.store)
        preview = preview_spec(project, run)
        if preview is not None and run.pr is not None:
            # A pull request's run deploys its preview only, never to `deploy.host`; a
            # fork's preview gets no secrets.
            Previews(self.docker, self.store, router, self.settings, self.reporter).deploy(
                PreviewRequest(project=project.name, number=run.pr.number, host=preview.host,
                               limit=preview.limit, image=image, sha=run.sha, run_id=run.id,
                               trigger=run.trigger, spec=spec.deploy,
                               secrets={} if run.pr.fork else project.secrets,
                               accessories=project.accessories))
            return
        assert project.deploy.host is not None
        BlueGreen(self.docker, self.store, router, self.settings, self.reporter).deploy(
            DeployRequest(project=project.name, host=project.deploy.host, image=image,
                          sha=run.sha, run_id=run.id, trigger=run.trigger,
                          spec=spec.deploy, secrets=project.secrets,
                          accessories=project.accessories))

"""What a pull request's run may do. A fork's code is untrusted twice over: it wrote the
Dockerfile and `.pushdock.yml` like any branch, and no one with access to the repository
vouched for it. So its run sees the project with no secrets at all, whatever the files say
(steps, services, build secrets and deploys all take them from here), and builds under a
cache scope of its own. No pull request's run deploys to `deploy.host`."""

from __future__ import annotations

from dataclasses import replace

from pipeline.config import Project
from pipeline.model import Run

NEVER_DEPLOYS = "a pull request's run never deploys to deploy.host: deploy skipped"
NO_SECRETS = "a pull request from a fork: the run gets no secrets"


def trusted(run: Run) -> bool:
    """Whether the run's code comes from the project's own repository."""
    return run.pr is None or not run.pr.fork


def project_for(run: Run, project: Project) -> Project:
    """The project as this run sees it: every secret blank when it tests a fork's code. The
    names stay, so a build or step that reads one gets an empty value rather than failing on
    a name the project does not have."""
    if trusted(run):
        return project
    return replace(project, secrets=dict.fromkeys(project.secrets, ""))

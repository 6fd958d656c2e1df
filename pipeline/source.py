"""Git: one bare mirror per project (fetching only what is new), a worktree per run."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from pipeline.config import Project
from pipeline.config_rules import check_fetched_ref, check_repo_url
from pipeline.errors import CheckoutError
from pipeline.model import ABBREVIATED_SHA, SHA
from pipeline.names import mirrors_dir, workspaces_dir
from pipeline.reporting import Reporter


class Sources:
    def __init__(self, data_dir: Path) -> None:
        data_dir = data_dir.resolve()  # git runs inside the mirror: relative paths would move
        self.mirrors = mirrors_dir(data_dir)
        self.workspaces = workspaces_dir(data_dir)

    def mirror_path(self, project: str) -> Path:
        return self.mirrors / f"{project}.git"

    @contextmanager
    def _locked(self, project: str) -> Iterator[None]:
        # Two runs of one project share its mirror; git's own ref locks would fail one of them.
        self.mirrors.mkdir(parents=True, exist_ok=True)
        with open(self.mirrors / f"{project}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _trust(self, project: Project) -> dict[str, str] | None:
        """Environment for git commands reading the project's repository."""
        config = trust_config(project.repo, os.environ.get("GIT_CONFIG_GLOBAL"))
        if config is None:
            return None
        self.mirrors.mkdir(parents=True, exist_ok=True)
        path = self.mirrors / f"{project.name}.gitconfig"
        path.write_text(config)
        return {"GIT_CONFIG_GLOBAL": str(path)}

    def update_mirror(self, project: Project, reporter: Reporter) -> git.Repo:
        if not check_repo_url(project.repo):
            raise CheckoutError(f"refusing to fetch from {project.repo!r}")
        path = self.mirror_path(project.name)
        trust = self._trust(project)
        try:
            if (path / "HEAD").exists():
                repo = git.Repo(path)
                repo.git.remote("set-url", "origin", "--", project.repo)
                reporter.log(f"fetching {project.repo} into the mirror cache")
                repo.git.fetch("--prune", "--no-tags", "origin", env=trust)
            else:
                reporter.log(f"cloning {project.repo} (first run of {project.name})")
                if path.exists():
                    shutil.rmtree(path)
                repo = git.Repo.clone_from(project.repo, path, mirror=True, env=trust)
        except git.GitCommandError as exc:
            raise CheckoutError(f"git could not fetch {project.repo}: {_git_reason(exc)}") from None
        return repo

    def checkout(self, project: Project, sha: str, workspace_name: str,
                 reporter: Reporter) -> Path:
        """A fresh work tree of exactly `sha`; remove it with `remove_workspace`."""
        if not SHA.match(sha):
            raise CheckoutError(f"{sha!r} is not a full commit sha")
        with self._locked(project.name):
            repo = self.update_mirror(project, reporter)
            try:
                repo.git.cat_file("-e", f"{sha}^{{commit}}")
            except git.GitCommandError:
                raise CheckoutError(f"commit {sha} is not in {project.repo}") from None
            workspace = self.workspaces / workspace_name
            self.remove_workspace(project.name, workspace)
            self.workspaces.mkdir(parents=True, exist_ok=True)
            try:
                repo.git.worktree("add", "--detach", "--", str(workspace), sha)
            except git.GitCommandError as exc:
                raise CheckoutError(f"git could not check out {sha}: {_git_reason(exc)}") from None
            subject = repo.commit(sha).summary
        reporter.log(f"checked out {sha[:7]} {subject}")
        return workspace

    def fetch_pull_request(self, project: Project, ref: str, sha: str,
                           reporter: Reporter) -> str:
        """Fetch a pull request's head from the project's own repository (never from a URL
        the forge names) and give the full id of its commit `sha`, which may come abbreviated:
        then it must be the commit `ref` points at now."""
        if not check_fetched_ref(ref):
            raise CheckoutError(f"refusing to fetch {ref!r}")
        if not ABBREVIATED_SHA.match(sha):
            raise CheckoutError(f"{sha!r} is not a commit sha")
        with self._locked(project.name):
            repo = self.update_mirror(project, reporter)
            reporter.log(f"fetching {ref} from {project.repo}")
            try:
                repo.git.fetch("--no-tags", "origin", f"+{ref}:{ref}", env=self._trust(project))
                head = repo.git.rev_parse("--verify", "--end-of-options", f"{ref}^{{commit}}")
            except git.GitCommandError as exc:
                raise CheckoutError(f"{project.repo} has no {ref}: {_git_reason(exc)}") from None
        if SHA.match(sha):
            return sha  # the checkout finds it, or says it is not in the repository
        if not head.startswith(sha):
            raise CheckoutError(f"{ref} is at {head[:12]} now, not {sha}: the pull request "
                                "moved on, and its newer head runs on its own")
        reporter.log(f"{sha} is {head}")
        return head

    def branch_head(self, project: Project, branch: str, reporter: Reporter) -> git.Commit:
        """The commit a branch of the project's repository points at now (fetched first)."""
        with self._locked(project.name):
            repo = self.update_mirror(project, reporter)
            try:
                return repo.commit(f"refs/heads/{branch}")
            except (git.BadName, ValueError):
                raise CheckoutError(f"no branch {branch!r} in {project.repo}") from None

    def remove_workspace(self, project: str, workspace: Path) -> None:
        if workspace.exists():
            shutil.rmtree(workspace, ignore_errors=True)
        mirror = self.mirror_path(project)
        if (mirror / "HEAD").exists():
            git.Repo(mirror).git.worktree("prune")


def trust_config(url: str, user_config: str | None) -> str | None:
    """A git config that lets git read a local repository another user owns, or None.

    The operator named it in pipelines.d; in the worker's container it is a read-only mount
    owned by its owner on the host, which git's ownership check refuses. Only that path is
    trusted; the user's own global config is included. (git drops `-c` settings when it
    reads a local repository, so they cannot carry this.)
    """
    path = url.removeprefix("file://")
    if not path.startswith("/"):
        return None
    path = path.rstrip("/") or "/"
    lines = ["[include]", f"\tpath = {user_config or '~/.gitconfig'}", "[safe]",
             f"\tdirectory = {path}", f"\tdirectory = {path.rstrip('/')}/.git"]
    return "\n".join(lines) + "\n"


def _git_reason(exc: git.GitCommandError) -> str:
    lines = [line.strip() for line in str(exc.stderr or exc).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'") for line in lines]
    return lines[-1] if lines else "unknown error"

"""The shape of the code: imports point one way, modules and functions stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pushdock", "webhooks", "workers", "pipeline")
# What each package must never import: webhooks → workers → pipeline, the command line on top.
FORBIDDEN = {
    "pipeline": {"pushdock", "webhooks", "workers", "flask", "rq", "gunicorn"},
    "workers": {"pushdock", "webhooks", "flask", "gunicorn"},
    "webhooks": {"pushdock"},
    "pushdock": set(),
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    """Top-level names of every module imported anywhere in the file, functions included."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def long_functions(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name}:{node.lineno} ({length} lines)")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = {f"{path.relative_to(ROOT)} imports {name}"
             for path in modules(package)
             for name in imported(ast.parse(path.read_text())) & FORBIDDEN[package]}
    assert sorted(wrong) == []


def test_the_check_finds_an_import_against_the_direction() -> None:
    tree = ast.parse("def f():\n    from workers.queue import QUEUE_NAME\n")
    assert imported(tree) & FORBIDDEN["pipeline"] == {"workers"}


@pytest.mark.parametrize("package", (*PACKAGES, "bench"))
def test_modules_and_functions_are_small(package: str) -> None:
    too_long = [f"{path.relative_to(ROOT)}: {len(path.read_text().splitlines())} lines"
                for path in modules(package)
                if len(path.read_text().splitlines()) > MAX_MODULE_LINES]
    assert too_long == []
    if package == "bench":
        return  # benchmarks are scripts: a measurement reads best as one sequence
    functions = [f"{path.relative_to(ROOT)}: {name}" for path in modules(package)
                 for name in long_functions(ast.parse(path.read_text()))]
    assert functions == []


# What each small process must not load at rest: their memory is most of an idle
# `pushdock up` (bench/idle_memory.py).
HEAVY = {"redis", "requests", "docker", "git", "yaml", "dns", "flask", "rq"}


@pytest.mark.parametrize(("entry", "allowed"), [
    ("pushdock.up", set()),  # the supervisor
    ("pipeline.deploy.resolver", {"dns"}),
    ("webhooks.wsgi", {"redis", "yaml", "flask", "rq"}),
    ("workers.process", {"redis", "requests", "docker", "yaml", "rq"}),
])
def test_processes_load_only_what_they_use(entry: str, allowed: set[str]) -> None:
    import subprocess
    import sys

    code = (f"import sys, {entry}; "
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    env = {"PUSHDOCK_REDIS_URL": "redis://127.0.0.1:1/0", "PATH": "/usr/bin:/bin"}
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True, timeout=60).stdout.split()
    assert sorted(HEAVY & set(loaded) - allowed) == []

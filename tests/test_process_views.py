"""The project page's Processes section on the real engine, a real Redis and a real Caddy: a
worker publishes the live generation (two web replicas and a worker process) into Redis, and
the page and the API, which never ask the engine, show each replica's state and each
process's last lines, and the lines the app prints later."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.deploy.apps import Apps
from pipeline.deploy.process_view import Member, ProcessView, process_tails
from pipeline.model import Color, LiveApp
from pipeline.records.processes import turn_key
from pipeline.settings import Settings
from pipeline.store import Store
from tests.conftest import CaddyProcess
from tests.support import SampleRepo, project_file, wait_for
from tests.test_generations import first_generation, marks  # noqa: F401 (a fixture)
from webhooks.app import create_app
from workers.process_views import publish_views, publisher


@pytest.fixture
def pages(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
          project_name: str):
    monkeypatch.setenv("PROCESSES_SECRET", "hook")
    project_file(settings.config_dir, project_name, tmp_path / "repo",
                 secret_var="PROCESSES_SECRET", host=f"{project_name}.test")
    return create_app(settings).test_client()


def say(container, text: str) -> None:
    """The app prints a line: written to its main process's output, as its own would be."""
    result = container.exec_run(["sh", "-c", 'printf "%b\\n" "$0" > /proc/1/fd/1', text])
    assert result.exit_code == 0, result.output


def test_the_page_shows_each_process_its_replicas_and_its_last_lines_live(
        deployer, docker_client, base_image: str, project_name: str, sample_repo: SampleRepo,
        store: Store, caddy: CaddyProcess, marks, pages, settings: Settings) -> None:  # noqa: F811
    bluegreen, _ = deployer
    sha1 = first_generation(docker_client, sample_repo, bluegreen, project_name, marks)
    apps = Apps(docker_client, bluegreen.settings.apps_network)
    assert "No worker has published" in pages.get(f"/projects/{project_name}").text

    assert publish_views(store, apps, "worker-a", interval=60) == [project_name]
    # Another worker leaves it to the one that holds the turn.
    assert publish_views(store, apps, "worker-b", interval=60) == []
    view = store.processes.get(project_name)
    assert view is not None and view.sha == sha1 and view.color == "blue"
    assert [(m.label, m.state, m.sha) for m in view.members] == [
        ("web.1", "running", sha1), ("web.2", "running", sha1), ("worker.1", "running", sha1)]
    assert [t.process for t in view.tails] == ["web", "worker"]
    assert [(line.replica, line.text) for line in view.tails[1].lines] == [
        ("worker.1", "worker up")]

    page = pages.get(f"/projects/{project_name}").text
    assert 'id="processes"' in page and f"{sha1[:7]}" in page
    for label in ("web.1", "web.2", "worker.1"):
        assert f'data-member="{label}"' in page
    assert "worker up" in page and "is a worker running?" not in page

    # Lines the app prints later reach the page's section, escaped, colors as the run log's.
    containers = {c.name: c for c in apps.containers(project_name)}
    say(containers[f"pushdock-{project_name}-blue-worker-1"],
        "<b>job 42</b> \\033[32mdone\\033[0m")
    say(containers[f"pushdock-{project_name}-blue-web-2"], "GET /cart 200")

    def section_with_new_lines() -> str | None:
        publish_views(store, apps, "worker-a", interval=0.05)
        text = pages.get(f"/projects/{project_name}/processes").text
        return text if "job 42" in text and "/cart" in text else None

    shown = wait_for(section_with_new_lines, timeout=30, what="the new lines on the page")
    assert '&lt;b&gt;job 42&lt;/b&gt; <span class="ansi-fg-green">done</span>' in shown
    assert "<b>job 42" not in shown

    api = pages.get(f"/api/projects/{project_name}/processes").get_json()
    assert api["sha"] == sha1 and api["stale"] is False
    web, worker = api["processes"]
    assert [m["label"] for m in web["members"]] == ["web.1", "web.2"]
    assert {"replica": "web.2", "text": "GET /cart 200",
            "html": "GET /cart 200"} in web["lines"]
    assert [line["text"] for line in worker["lines"]] == ["worker up", "<b>job 42</b> done"]

    # The worker process's own loop publishes on its own.
    before = api["seen"]
    stop = threading.Event()
    loop = threading.Thread(target=publisher, args=(
        replace(settings, apps_network=apps.network), "worker-c", stop, 0.1))
    loop.start()
    try:
        wait_for(lambda: store.processes.get(project_name).at > before, timeout=30,
                 what="a view published by the worker's loop")
    finally:
        stop.set()
        loop.join()
    assert store.redis.get(turn_key(project_name)) == "worker-c"


def test_a_view_no_worker_renewed_is_shown_as_stale(store: Store, pages,
                                                    project_name: str) -> None:
    live = LiveApp(project=project_name, color=Color.GREEN, sha="c" * 40, run="9",
                   container=f"pushdock-{project_name}-green", upstream="10.0.0.9:8000")
    store.live.set(live)
    members = (Member("web", 1, live.container, "running", 0, sha=live.sha),)
    tails = process_tails({"web.1": ["2026-12-02T01:00:00.000000000Z listening"]}, members)
    store.processes.publish(ProcessView(project=project_name, sha=live.sha, run="9",
                                        color="green", at=time.time() - 120,
                                        members=members, tails=tails))
    section = pages.get(f"/projects/{project_name}/processes").text
    assert "listening" in section and "is a worker running?" in section
    assert 'data-stale="yes"' in section
    assert pages.get(f"/api/projects/{project_name}/processes").get_json()["stale"] is True
    store.live.clear(project_name)  # nothing live: nothing to show
    assert "listening" not in pages.get(f"/projects/{project_name}").text
    assert pages.get(f"/api/projects/{project_name}/processes").get_json()["processes"] == []


def test_a_project_without_a_file_or_runs_has_no_processes(pages) -> None:
    assert pages.get("/projects/nosuch/processes").status_code == 404
    assert pages.get("/api/projects/nosuch/processes").status_code == 404



def test_the_turn_stays_with_its_holder_and_passes_when_it_stops_asking(store: Store) -> None:
    turns = store.processes
    assert turns.take_turn("shop", 0.3, "worker-a")
    assert not turns.take_turn("shop", 0.3, "worker-b")
    assert turns.take_turn("shop", 0.3, "worker-a")  # asked again in time: kept
    assert not turns.take_turn("shop", 0.3, "worker-b")
    wait_for(lambda: turns.take_turn("shop", 60, "worker-b"), timeout=10,
             what="the turn passing to another worker")
    assert not turns.take_turn("shop", 60, "worker-a")

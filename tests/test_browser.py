"""The status page in a real headless Chromium: a run followed live, cancelled with the
token, a commit message holding <script> shown as text, and the duration chart read by its
scale and hover text. Screenshots are kept in var/test-artifacts/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from pipeline.model import PushEvent, RunStatus
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import SampleRepo, free_port, missing, project_file, wait_for, worker_process
from webhooks.app import create_app
from workers.queue import job_connection, run_queue, submit_run

TOKEN = "browser-token"
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"
TICKING = ("test:\n  steps:\n    - name: tick\n"
           "      run: 'for i in $(seq 1 120); do echo \"tick $i\"; sleep 0.5; done'\n")


@pytest.fixture
def browser() -> Iterator[object]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing("chromium and chromedriver are not installed (script/bootstrap installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pushdock-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.implicitly_wait(0)
    yield chrome
    chrome.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def web(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        sample_repo: SampleRepo, project_name: str) -> Iterator[tuple[str, Settings]]:
    monkeypatch.setenv("BROWSER_SECRET", "hook")
    project_file(settings.config_dir, project_name, sample_repo.path,
                 secret_var="BROWSER_SECRET")
    settings = replace(settings, token=TOKEN, bind=f"127.0.0.1:{free_port()}")
    server = make_server("127.0.0.1", int(settings.bind.rsplit(":", 1)[1]),
                         create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{settings.bind}", settings
    server.shutdown()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir), "BROWSER_SECRET": "hook",
           "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen}
    with worker_process(env, tmp_path / "worker.log") as process:
        yield process


def screenshot(browser, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def text_of(browser, css: str) -> str:
    """The element's text, read in the page in one step: a page that is being replaced (a
    form's redirect) gives "" rather than a stale element."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    try:
        return str(browser.execute_script(script, css))
    except Exception:  # navigation in progress; the caller polls again
        return ""


def test_follow_a_run_live_and_cancel_it(browser, web, worker, store: Store,
                                         sample_repo: SampleRepo, project_name: str,
                                         base_image: str, redis_url: str) -> None:
    from selenium.webdriver.common.by import By

    base, _ = web
    sha = sample_repo.commit("v1", "Tick tock", files={".pushdock.yml": TICKING})
    queue = run_queue(job_connection(redis_url))
    run = submit_run(store, queue, PushEvent(project=project_name, branch="main", sha=sha,
                                             message="Tick tock"))

    # the dashboard lists the run
    browser.get(f"{base}/")
    assert project_name in browser.page_source and "Tick tock" in browser.page_source
    screenshot(browser, "dashboard")

    # log in with the token, landing on the run page
    browser.get(f"{base}/login?next=/runs/{run.id}")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: browser.current_url.endswith(f"/runs/{run.id}"), timeout=10,
             what="the run page")
    browser.execute_script("window.pushdockMarker = 'not reloaded'")

    # log lines arrive and the status changes, without a reload
    wait_for(lambda: "tick 3" in text_of(browser, "#log"), timeout=120,
             what="live log lines in the page")
    wait_for(lambda: text_of(browser, "#run-status") == "running", timeout=10,
             what="the running status on the page")
    assert browser.execute_script("return window.pushdockMarker") == "not reloaded"
    screenshot(browser, "run-live")

    # cancel with the token; the page then shows the run cancelled
    browser.find_element(By.ID, "cancel").click()
    wait_for(lambda: text_of(browser, "#run-status") == "cancelled", timeout=30,
             what="the cancelled status on the page")
    assert "cancelled by a user of the status page" in text_of(browser, "#run-reason")
    screenshot(browser, "run-cancelled")
    final = store.runs.get(run.id)
    assert final is not None and final.status is RunStatus.CANCELLED


def test_a_script_in_a_commit_message_is_text(browser, web, store: Store,
                                              project_name: str) -> None:
    base, _ = web
    message = "<script>window.pushdockHacked = true</script> Fix <b>bold</b>"
    run = store.runs.create(PushEvent(project=project_name, branch="main", sha="a" * 40,
                                     message=message))
    store.logs.append(run.id, "<img src=x onerror=\"window.pushdockHacked=true\">", stage="test")
    for path in ("/", f"/runs/{run.id}", f"/projects/{project_name}"):
        browser.get(base + path)
        assert browser.execute_script("return window.pushdockHacked === undefined"), path
    assert message in text_of(browser, "table.runs")
    browser.get(f"{base}/runs/{run.id}")
    assert "<img src=x" in text_of(browser, "#log")
    screenshot(browser, "escaped-message")


def finished_run(store: Store, project: str, seconds: float, status: RunStatus) -> str:
    """A run recorded as having taken `seconds`: its start is moved back in its record."""
    run = store.runs.create(PushEvent(project=project, branch="main", sha="c" * 40))
    store.runs.start(run.id)
    done = store.runs.finish(run.id, status)
    assert done.finished is not None
    store.redis.hset(f"pushdock:run:{run.id}", "started", repr(done.finished - seconds))
    return run.id


def test_the_duration_chart_has_a_scale_and_hover_text(browser, web, store: Store,
                                                       project_name: str) -> None:
    from selenium.webdriver.common.by import By

    base, _ = web
    ids = [finished_run(store, project_name, seconds, status) for seconds, status in
           ((45, RunStatus.SUCCESS), (100, RunStatus.FAILED), (150, RunStatus.SUCCESS))]
    browser.get(f"{base}/projects/{project_name}")
    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.get_attribute("role") == "img"
    assert chart.get_attribute("aria-label") == (
        f"Durations of the last 3 finished runs, oldest left: longest 2m30s (run #{ids[2]})")

    # WebDriver's text is the rendered text: empty for anything hidden or drawn off the chart
    scale = chart.find_elements(By.CSS_SELECTOR, "g.scale text")
    assert [label.text for label in scale] == ["0", "1m", "2m", "3m"]
    axis = chart.find_elements(By.CSS_SELECTOR, "g.runs-axis text")
    assert [label.text for label in axis] == [f"#{ids[0]}", "oldest → newest", f"#{ids[2]}"]
    assert all(label.is_displayed() for label in [*scale, *axis])

    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) == 3 and all(bar.size["height"] > 0 for bar in bars)
    assert bars[0].size["height"] < bars[1].size["height"] < bars[2].size["height"]
    title = bars[1].find_element(By.TAG_NAME, "title")
    assert title.get_attribute("textContent") == f"run #{ids[1]} · failed · 1m40s"
    screenshot(browser, "project-chart")


def test_approve_and_reject_with_the_page_buttons(browser, web, store: Store, redis_url: str,
                                                  project_name: str) -> None:
    import time

    from selenium.webdriver.common.by import By

    from pipeline.model import Approval, ApprovalNext, Decision

    base, _ = web

    def waiting_run() -> str:
        run = store.runs.create(PushEvent(project=project_name, branch="main", sha="b" * 40,
                                         message="Ready to ship"))
        store.runs.start(run.id)
        store.runs.wait(run.id, Approval(ApprovalNext.DEPLOY, "waiting for approval to deploy",
                                         time.time()))
        return run.id

    first, second = waiting_run(), waiting_run()
    browser.get(f"{base}/runs/{first}")
    assert text_of(browser, "#run-status") == "waiting"
    assert browser.find_elements(By.ID, "approve") == []  # not logged in: no buttons
    browser.get(f"{base}/login?next=/runs/{first}")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: browser.current_url.endswith(f"/runs/{first}"), timeout=10,
             what="the run page")
    assert "waiting for approval to deploy" in text_of(browser, "#run-reason")
    screenshot(browser, "run-waiting")

    browser.find_element(By.ID, "approve").click()
    wait_for(lambda: text_of(browser, "#approval-by") == "a user of the status page",
             timeout=10, what="the approval shown on the page")
    assert text_of(browser, "#run-status") == "queued"
    assert browser.find_elements(By.ID, "approve") == []
    approved = store.runs.get(first)
    assert approved is not None and approved.approval is not None
    assert approved.approval.decision is Decision.APPROVED and approved.approval.at
    assert run_queue(job_connection(redis_url)).get_job_ids() == [f"run-{first}-approved"]
    screenshot(browser, "run-approved")

    browser.get(f"{base}/runs/{second}")
    browser.find_element(By.ID, "reject").click()
    wait_for(lambda: text_of(browser, "#run-status") == "cancelled", timeout=10,
             what="the rejected run on the page")
    assert text_of(browser, "#run-reason") == "rejected by a user of the status page"
    assert text_of(browser, "#approval").startswith("rejected by a user of the status page")


def test_the_processes_on_a_project_page_follow_live(browser, web, store: Store,
                                                     project_name: str) -> None:
    """The page's Processes section takes in what a worker publishes later, without a
    reload; the app's output stays text."""
    import time

    from pipeline.deploy.process_view import Member, ProcessView, process_tails
    from pipeline.model import Color, LiveApp

    base, _ = web
    live = LiveApp(project=project_name, color=Color.BLUE, sha="d" * 40, run="3",
                   container=f"pushdock-{project_name}-blue", upstream="10.0.0.5:8000")
    store.live.set(live)
    members = (Member("web", 1, live.container, "running", 0, sha=live.sha),
               Member("worker", 1, f"{live.container}-worker-1", "running", 0, sha=live.sha))
    said = ["2026-12-02T01:00:00.000000000Z worker up"]

    def publish(at: float) -> None:
        tails = process_tails({"worker.1": said}, members)
        store.processes.publish(ProcessView(project=project_name, sha=live.sha, run="3",
                                            color="blue", at=at, members=members,
                                            tails=tails))

    publish(time.time() - 120)  # no worker looked for two minutes
    browser.get(f"{base}/projects/{project_name}")
    assert "worker up" in text_of(browser, '.process-log[data-process="worker"]')
    assert "is a worker running?" in text_of(browser, "#processes")
    browser.execute_script("window.pushdockMarker = 'not reloaded'")

    said.append("2026-12-02T01:00:05.000000000Z <img src=x onerror=\"window.pushdockHacked=1\">"
                " \x1b[32mjob 7 done\x1b[0m")
    publish(time.time())
    wait_for(lambda: "job 7 done" in text_of(browser, '.process-log[data-process="worker"]'),
             timeout=15, what="the new line in the page")
    assert "is a worker running?" not in text_of(browser, "#processes")
    assert browser.execute_script("return window.pushdockMarker") == "not reloaded"
    assert browser.execute_script("return window.pushdockHacked === undefined")
    assert "<img src=x" in text_of(browser, '.process-log[data-process="worker"]')
    colored = browser.execute_script(
        "return document.querySelector('.process-log .ansi-fg-green').textContent")
    assert colored == "job 7 done"
    screenshot(browser, "project-processes")

"""The dashboard's "since": when the live version went live, read from the deployment
history in a real Redis, whatever happened to the deployments after it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.model import Color, Deployment, DeployResult, LiveApp
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import project_file
from webhooks.app import create_app
from webhooks.pages import went_live

GOOD, BAD = "a" * 40, "b" * 40
GOOD_SWITCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z
BAD_SWITCH = GOOD_SWITCH + 3_600

GOOD_DEPLOY = Deployment(project="shop", sha=GOOD, run="1", color=Color.BLUE,
                         image=f"shop:{GOOD}", trigger="push", started=GOOD_SWITCH - 20,
                         switched=GOOD_SWITCH, finished=GOOD_SWITCH + 5,
                         result=DeployResult.LIVE)
# Switched to, failed its check through the proxy, switched back: blue kept serving.
BAD_DEPLOY = Deployment(project="shop", sha=BAD, run="2", color=Color.GREEN,
                        image=f"shop:{BAD}", trigger="push", started=BAD_SWITCH - 20,
                        switched=BAD_SWITCH, finished=BAD_SWITCH + 5,
                        result=DeployResult.FAILED, reason="check through the proxy failed")
LIVE = LiveApp(project="shop", color=Color.BLUE, sha=GOOD, run="1",
               container="pushdock-shop-blue", upstream="10.0.0.2:8000")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def since_cell(html: str) -> str:
    match = re.search(r'<tr class="project" data-project="shop">.*?'
                      r'<td class="muted" data-field="since">(.*?)</td>', html, re.S)
    assert match, html
    return match.group(1)


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DASHBOARD_SECRET", "hook")
    project_file(settings.config_dir, "shop", tmp_path / "repo", secret_var="DASHBOARD_SECRET",
                 host="shop.test")
    return create_app(settings).test_client()


def test_since_is_the_live_deployments_switch_after_a_failed_one(client, store: Store) -> None:
    store.live.set(LIVE)
    store.deployments.record(GOOD_DEPLOY)
    cell = since_cell(client.get("/").get_data(as_text=True))
    assert f'datetime="{iso(GOOD_SWITCH)}"' in cell and "ago</time>" in cell

    store.deployments.record(BAD_DEPLOY)
    assert store.deployments.latest_of(["shop"])["shop"].result == DeployResult.FAILED
    cell = since_cell(client.get("/").get_data(as_text=True))
    assert f'datetime="{iso(GOOD_SWITCH)}"' in cell, cell
    assert iso(BAD_SWITCH) not in cell and iso(GOOD_DEPLOY.finished or 0) not in cell


def test_since_is_empty_when_no_record_made_the_live_version_live(client,
                                                                  store: Store) -> None:
    store.live.set(LIVE)
    store.deployments.record(BAD_DEPLOY)
    assert since_cell(client.get("/").get_data(as_text=True)).strip() == ""


def test_went_live_takes_the_newest_deployment_of_the_live_sha_and_color() -> None:
    later = GOOD_SWITCH + 7_200
    rollback = replace(GOOD_DEPLOY, run="3", trigger="rollback", switched=later,
                       finished=later + 5)
    other_color = replace(GOOD_DEPLOY, color=Color.GREEN, switched=later + 1)
    assert went_live(LIVE, [rollback, BAD_DEPLOY, GOOD_DEPLOY]) == later
    assert went_live(LIVE, [other_color, BAD_DEPLOY, GOOD_DEPLOY]) == GOOD_SWITCH
    # a record from before switch times were kept: its end stands for the switch
    assert went_live(LIVE, [replace(GOOD_DEPLOY, switched=None)]) == GOOD_SWITCH + 5
    interrupted = replace(GOOD_DEPLOY, result=DeployResult.INTERRUPTED)
    assert went_live(LIVE, [interrupted]) is None
    assert went_live(None, [GOOD_DEPLOY]) is None


def test_the_project_and_run_pages_and_the_api_link_each_preview(client, store: Store) -> None:
    from pipeline.model import PullRequest, PushEvent
    from pipeline.previews import Preview

    run = store.runs.create(PushEvent(project="shop", branch="refs/pull/5/head", sha=GOOD,
                                      pr=PullRequest(number=5, title="Faster search")))
    older = store.runs.create(PushEvent(project="shop", branch="refs/pull/5/head", sha=BAD,
                                        pr=PullRequest(number=5)))
    store.previews.put(Preview(project="shop", number=5, host="pr-5.shop.test", sha=GOOD,
                               run=run.id, created=GOOD_SWITCH, pushed=GOOD_SWITCH))
    store.live.set(replace(LIVE, project="shop--pr5", run=run.id,
                           container="pushdock-shop--pr5-blue"))
    page = client.get("/projects/shop").get_data(as_text=True)
    row = re.search(r'<tr class="preview" data-number="5">(.*?)</tr>', page, re.S)
    assert row, page
    assert '<a href="http://pr-5.shop.test/">pr-5.shop.test</a>' in row.group(1)
    assert f'<a href="/runs/{run.id}"><code>{GOOD[:7]}</code></a>' in row.group(1)
    assert 'id="preview"' in client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert 'id="preview"' not in client.get(f"/runs/{older.id}").get_data(as_text=True)
    [listed] = client.get("/api/projects/shop/previews").get_json()["previews"]
    assert listed["number"] == 5 and listed["url"] == "http://pr-5.shop.test/"
    assert listed["live"]["sha"] == GOOD and listed["run"] == run.id


def test_no_previews_no_table(client) -> None:
    assert 'id="previews"' not in client.get("/projects/shop").get_data(as_text=True)
    assert client.get("/api/projects/shop/previews").get_json() == {"previews": []}

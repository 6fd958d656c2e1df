"""The status pages: every run, and one run's stages and log."""

from __future__ import annotations

import time

from flask import Blueprint, abort, render_template

from pipeline.errors import StoreUnavailable
from pipeline.model import Run
from pipeline.units import format_duration
from webhooks.services import services

blueprint = Blueprint("pages", __name__)


def duration_text(run: Run) -> str:
    if run.started is None:
        return ""
    end = run.finished if run.finished is not None else time.time()
    return format_duration(end - run.started)


def age_text(timestamp: float) -> str:
    return format_duration(max(0.0, time.time() - timestamp)) + " ago"


@blueprint.app_template_filter("duration")
def _duration_filter(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


@blueprint.get("/")
def index():
    svc = services()
    try:
        runs = svc.store.list_runs(limit=100)
        live = {name: svc.store.live(name) for name in svc.store.live_projects()}
    except StoreUnavailable:
        return render_template("unavailable.html"), 503
    return render_template("index.html", runs=runs, live=live, duration_text=duration_text,
                           age_text=age_text)


@blueprint.get("/runs/<run_id>")
def run_page(run_id: str):
    svc = services()
    if not run_id.isdigit():
        abort(404)
    try:
        run = svc.store.get_run(run_id)
        if run is None:
            abort(404)
        log = svc.store.read_log(run_id)
    except StoreUnavailable:
        return render_template("unavailable.html"), 503
    return render_template("run.html", run=run, log=log, duration_text=duration_text,
                           age_text=age_text)

"""The run-history chart on data: its scale, its run axis, its legend and each bar's hover
text, read back from the SVG as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pipeline.model import Run, RunStatus
from webhooks.graphics import duration_ticks, history_chart, tick_label

SVG = "{http://www.w3.org/2000/svg}"
DURATIONS = {"7": (40.0, RunStatus.SUCCESS), "8": (95.0, RunStatus.FAILED),
             "9": (130.0, RunStatus.SUCCESS), "10": (3.2, RunStatus.CANCELLED)}


def finished_runs() -> list[Run]:
    """Newest first, the way the store lists them; one still running (no duration yet)."""
    runs = [Run(id=run_id, project="shop", branch="main", sha="a" * 40, status=status,
                started=1_000.0, finished=1_000.0 + seconds)
            for run_id, (seconds, status) in DURATIONS.items()]
    running = Run(id="11", project="shop", branch="main", sha="b" * 40,
                  status=RunStatus.RUNNING, started=1_200.0)
    return [running, *reversed(runs)]


def texts(svg: ET.Element, group: str) -> list[str]:
    node = svg.find(f"{SVG}g[@class='{group}']")
    assert node is not None, group
    return [t.text or "" for t in node.iter(f"{SVG}text")]


@pytest.mark.parametrize(("longest", "ticks"), [
    (130.0, ("0", "1m", "2m", "3m")),
    (40.0, ("0", "10s", "20s", "30s", "40s")),
    (41.0, ("0", "15s", "30s", "45s")),
    (9.0, ("0", "5s", "10s")),
    (0.3, ("0", "100ms", "200ms", "300ms")),
    (5_400.0, ("0", "30m", "1h", "1h30m")),
    (60.0, ("0", "15s", "30s", "45s", "1m")),
])
def test_ticks_are_round_durations_covering_the_longest(longest: float,
                                                        ticks: tuple[str, ...]) -> None:
    values = duration_ticks(longest)
    assert tuple(tick_label(v) for v in values) == ticks
    assert values[0] == 0 and values[-1] >= longest and values[-2] < longest


def test_chart_has_a_scale_a_run_axis_and_hover_text_per_bar() -> None:
    svg = ET.fromstring(str(history_chart(finished_runs())))
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == ("Durations of the last 4 finished runs, oldest left: "
                                     "longest 2m10s (run #9)")
    assert texts(svg, "scale") == ["0", "1m", "2m", "3m"]
    assert texts(svg, "runs-axis") == ["#7", "oldest → newest", "#10"]
    assert texts(svg, "legend") == ["duration", "success", "failed", "cancelled"]

    bars = svg.findall(f".//{SVG}a/{SVG}rect[@class='bar']")
    titles = [bar.findtext(f"{SVG}title") for bar in bars]
    assert titles == ["run #7 · success · 40s", "run #8 · failed · 1m35s",
                      "run #9 · success · 2m10s", "run #10 · cancelled · 3.2s"]
    assert [a.get("href") for a in svg.iter(f"{SVG}a")] == [f"/runs/{i}" for i in DURATIONS]


def test_bar_heights_follow_the_scale() -> None:
    svg = ET.fromstring(str(history_chart(finished_runs())))
    lines = {text: float(line.get("y1") or 0) for line, text in zip(
        svg.iter(f"{SVG}line"), texts(svg, "scale"), strict=True)}
    per_minute = (lines["0"] - lines["3m"]) / 3
    assert per_minute > 0
    assert lines["0"] - lines["1m"] == pytest.approx(per_minute, abs=0.2)
    assert lines["1m"] - lines["2m"] == pytest.approx(per_minute, abs=0.2)
    bars = {rect.findtext(f"{SVG}title", "").split(" · ")[0]: rect
            for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"}
    for run_id, (seconds, _) in DURATIONS.items():
        bar = bars[f"run #{run_id}"]
        top, height = float(bar.get("y") or 0), float(bar.get("height") or 0)
        assert top + height == pytest.approx(lines["0"], abs=0.1)  # every bar stands on 0
        assert height == pytest.approx(max(2.0, seconds / 60 * per_minute), abs=0.2)


def test_one_run_has_its_number_and_no_direction() -> None:
    run = Run(id="3", project="shop", branch="main", sha="c" * 40, status=RunStatus.ERROR,
              started=10.0, finished=10.5)
    svg = ET.fromstring(str(history_chart([run])))
    assert texts(svg, "runs-axis") == ["#3"]
    assert texts(svg, "scale") == ["0", "200ms", "400ms", "600ms"]
    assert svg.findtext(f".//{SVG}title") == "run #3 · error · 500ms"


def test_outcomes_of_one_colour_share_a_legend_entry() -> None:
    runs = [Run(id=str(i), project="shop", branch="main", sha="e" * 40, status=status,
                started=0.0, finished=30.0)
            for i, status in enumerate((RunStatus.SUPERSEDED, RunStatus.CANCELLED,
                                        RunStatus.SUCCESS))]
    svg = ET.fromstring(str(history_chart(runs)))
    assert texts(svg, "legend") == ["duration", "success", "cancelled / superseded"]


def test_no_finished_run_draws_nothing() -> None:
    running = Run(id="1", project="shop", branch="main", sha="d" * 40,
                  status=RunStatus.RUNNING, started=5.0)
    assert str(history_chart([running])) == ""

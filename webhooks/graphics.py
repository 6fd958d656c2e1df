"""Small SVGs drawn on the server: the status badge and the run-history chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from pipeline.model import Run, RunStatus
from pipeline.units import format_duration

STATUS_COLORS = {
    RunStatus.SUCCESS: "#2f9e44", RunStatus.FAILED: "#d6336c", RunStatus.ERROR: "#c92a2a",
    RunStatus.RUNNING: "#1c7ed6", RunStatus.QUEUED: "#868e96",
    RunStatus.CANCELLED: "#e8a317", RunStatus.SUPERSEDED: "#e8a317",
    RunStatus.WAITING: "#f59f00",
}
UNKNOWN_COLOR = "#868e96"


def badge_svg(label: str, message: str, color: str) -> str:
    """A flat badge: `label | message` (about 6.5 px per character)."""
    left = 10 + int(6.5 * len(label))
    right = 10 + int(6.5 * len(message))
    width = left + right
    label_e, message_e = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label_e}: {message_e}"><title>{label_e}: {message_e}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{color}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{left / 2}" y="14">{label_e}</text>'
        f'<text x="{left + right / 2}" y="14">{message_e}</text></g></svg>')


# Tick steps a person reads at a glance; the smallest one giving at most MAX_TICKS steps wins.
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600,
              7_200, 10_800, 21_600, 43_200, 86_400)
MAX_TICKS = 4
FONT = 'font-family="system-ui,DejaVu Sans,sans-serif" font-size="11" fill="#5b6472"'


@dataclass(frozen=True)
class ChartFrame:
    """Where the plot sits inside the SVG: margins hold the scale, the legend and the runs."""

    width: int
    height: int
    left: int = 52
    right: int = 8
    top: int = 22
    bottom: int = 22

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom

    def center(self, index: int, count: int) -> float:
        """The middle of bar `index` of `count`."""
        return self.left + (index + 0.5) * self.plot_width / count

    def y(self, seconds: float, scale_top: float) -> float:
        return self.plot_bottom - seconds / scale_top * (self.plot_bottom - self.top)


def duration_ticks(longest: float) -> tuple[float, ...]:
    """The scale's ticks from 0 to the first round duration at or above `longest`."""
    step = next((s for s in TICK_STEPS if s * MAX_TICKS >= longest), None)
    if step is None:  # past the table: whole days
        step = math.ceil(longest / MAX_TICKS / 86_400) * 86_400
    count = max(1, math.ceil(longest / step - 1e-9))
    return tuple(step * i for i in range(count + 1))


def tick_label(seconds: float) -> str:
    """A round duration as a person says it: 0, 500ms, 30s, 1m30s, 2h."""
    if seconds <= 0:
        return "0"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(round(seconds), 3_600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"),
                                                        (secs, "s")) if value)


def history_chart(runs: Sequence[Run], width: int = 600, height: int = 150) -> Markup:
    """Bars of the last finished runs (`runs` newest first), oldest left: height is the
    duration on a labelled scale, color the outcome; each bar links to its run."""
    finished = [r for r in reversed(runs) if r.started is not None and r.finished is not None]
    if not finished:
        return Markup("")
    frame = ChartFrame(width, height)
    ticks = duration_ticks(max(r.duration or 0 for r in finished) or 1)
    longest = max(finished, key=lambda r: r.duration or 0)
    label = (f"Durations of the last {len(finished)} finished runs, oldest left: longest "
             f"{format_duration(longest.duration or 0)} (run #{longest.id})")
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">'
        + _scale(frame, ticks) + _bars(frame, finished, ticks[-1])
        + _run_axis(frame, finished) + _legend(frame, finished) + "</svg>")


def _scale(frame: ChartFrame, ticks: Sequence[float]) -> str:
    parts = [f'<g class="scale" {FONT} text-anchor="end">']
    for tick in ticks:
        y = frame.y(tick, ticks[-1])
        stroke = "#99a1b3" if tick == 0 else "#e3e6ea"
        parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="{stroke}"/>'
                     f'<text x="{frame.left - 6}" y="{y + 4:.1f}">{tick_label(tick)}</text>')
    return "".join(parts) + "</g>"


def _bars(frame: ChartFrame, runs: Sequence[Run], scale_top: float) -> str:
    slot = frame.plot_width / len(runs)
    bar_width = max(min(slot - 2, 40), 1)  # a few runs stay bars, not blocks
    parts = []
    for i, run in enumerate(runs):
        seconds = run.duration or 0
        y = min(frame.y(seconds, scale_top), frame.plot_bottom - 2)  # a short run still shows
        x = frame.center(i, len(runs)) - bar_width / 2
        color = STATUS_COLORS.get(run.status, UNKNOWN_COLOR)
        parts.append(
            f'<a href="/runs/{escape(run.id)}"><rect class="bar" x="{x:.1f}" y="{y:.1f}" '
            f'width="{bar_width:.1f}" height="{frame.plot_bottom - y:.1f}" fill="{color}">'
            f'<title>run #{escape(run.id)} · {run.status.value} · '
            f'{format_duration(seconds)}</title></rect></a>')
    return "".join(parts)


def _run_axis(frame: ChartFrame, runs: Sequence[Run]) -> str:
    """Run numbers under the oldest and newest bars, the direction of time between them."""
    y = frame.height - 6
    first, last = frame.center(0, len(runs)), frame.center(len(runs) - 1, len(runs))
    parts = [f'<g class="runs-axis" {FONT} text-anchor="middle">',
             f'<text x="{first:.1f}" y="{y}">#{escape(runs[0].id)}</text>']
    if len(runs) > 1:
        parts.append(f'<text x="{(first + last) / 2:.1f}" y="{y}">oldest → newest</text>'
                     f'<text x="{last:.1f}" y="{y}">#{escape(runs[-1].id)}</text>')
    return "".join(parts) + "</g>"


def _legend(frame: ChartFrame, runs: Sequence[Run]) -> str:
    """The outcomes shown, above the plot on the right, so the colors need no guessing;
    outcomes drawn in one color share an entry."""
    entries: dict[str, list[str]] = {}
    for status, color in STATUS_COLORS.items():
        if any(r.status is status for r in runs):
            entries.setdefault(color, []).append(status.value)
    labels = [(color, " / ".join(names)) for color, names in entries.items()]
    x = frame.width - frame.right - sum(_legend_width(text) for _, text in labels) + 12
    parts = [f'<g class="legend" {FONT}>',
             f'<text x="{frame.left}" y="13">duration</text>']
    for color, text in labels:
        parts.append(f'<rect x="{x:.1f}" y="5" width="9" height="9" fill="{color}"/>'
                     f'<text x="{x + 13:.1f}" y="13">{text}</text>')
        x += _legend_width(text)
    return "".join(parts) + "</g>"


def _legend_width(text: str) -> float:
    """Swatch, label and the gap after it. Each swatch is placed beside its own label, so
    the estimate of text widths (about 6.5 px a character) only moves the gaps between."""
    return 13 + 6.5 * len(text) + 12

"""Small SVGs drawn on the server: the status badge and the run-history chart."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from pipeline.model import Run, RunStatus

STATUS_COLORS = {
    RunStatus.SUCCESS: "#2f9e44", RunStatus.FAILED: "#d6336c", RunStatus.ERROR: "#c92a2a",
    RunStatus.RUNNING: "#1c7ed6", RunStatus.QUEUED: "#868e96",
    RunStatus.CANCELLED: "#e8a317", RunStatus.SUPERSEDED: "#e8a317",
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


def history_chart(runs: Sequence[Run], width: int = 600, height: int = 80) -> Markup:
    """Bars of the last runs, oldest left: height is the duration, color the outcome."""
    finished = [r for r in reversed(runs) if r.duration is not None]
    if not finished:
        return Markup("")
    longest = max(r.duration or 0 for r in finished) or 1
    slot = width / max(len(finished), 1)
    bars = []
    for i, run in enumerate(finished):
        bar_height = max(2.0, (run.duration or 0) / longest * (height - 4))
        color = STATUS_COLORS.get(run.status, UNKNOWN_COLOR)
        bars.append(
            f'<a href="/runs/{escape(run.id)}"><rect x="{i * slot + 1:.1f}" '
            f'y="{height - bar_height:.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{bar_height:.1f}" fill="{color}"><title>#{escape(run.id)} '
            f'{run.status.value} {run.duration:.1f}s</title></rect></a>')
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="durations and outcomes of the last {len(finished)} runs">'
        + "".join(bars) + "</svg>")

"""The gate's part of report.html: its table, verdict and reasons, and latency over time.

A reviewer opens report.html, not the console log, so the verdict goes at the top of it. Locust
writes report.html before the `quitting` event, where the gate runs; `add_to_report` then puts
the gate's section right after the page's <body> tag, above Locust's own report (a React app that
renders into its own element, so the added section is left alone). If Locust wrote no report
(e.g. stopped by SIGTERM), the section becomes a page of its own.

The chart is inline SVG (no script, no network): p50 and p99 of each 5-second interval
(loadtest.timeline) against a dashed line per latency SLO threshold.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from loadtest.gate import GateResult, ObjectiveRow
from loadtest.report import RunInfo, objective_cells
from loadtest.timeline import IntervalSummary

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 40
SERIES = (("p50", "#1f77b4"), ("p99", "#ff7f0e"))
THRESHOLD_COLOUR = "#d62728"
VERDICT_COLOURS = {0: "#2ca02c", 1: "#d62728", 2: "#7f7f7f"}
Scale = Callable[[float], float]  # data value -> SVG coordinate
_STYLE = (
    "font-family:sans-serif;max-width:960px;margin:16px auto;padding:12px 16px;"
    "border:1px solid #ccc;border-radius:6px"
)


def gate_section(
    result: GateResult,
    intervals: Sequence[IntervalSummary],
    thresholds_ms: Sequence[float],
    info: RunInfo,
    service: str,
) -> str:
    """The HTML section: heading, verdict, reasons, table, chart."""
    colour = VERDICT_COLOURS[int(result.exit_code)]
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in result.reasons)
    return (
        f'<section id="slo-gate" style="{_STYLE}">'
        f"<h2>SLO gate: {html.escape(service)} against {html.escape(info.target)}</h2>"
        f'<p style="font-size:1.3em;color:{colour}"><strong>{result.verdict}</strong> '
        f"(exit {int(result.exit_code)})</p>"
        f"{f'<ul>{reasons}</ul>' if reasons else ''}"
        f"{_table(result.rows)}"
        f"<h3>Latency over time</h3>{latency_chart(intervals, thresholds_ms, info.started_at)}"
        f"<p><small>SLOs from {html.escape(info.slo_file)}; verdicts by slo.stats.judge_rate "
        "(Wald's SPRT between half the budget and the budget).</small></p>"
        "</section>"
    )


def _table(rows: Sequence[ObjectiveRow]) -> str:
    header = (
        "objective",
        "target",
        "observed",
        "burn rate",
        "log LR (FAIL at, PASS at)",
        "verdict",
    )
    head = "".join(f'<th style="text-align:left;padding:2px 8px">{h}</th>' for h in header)
    body = []
    for row in rows:
        name, target, observed, burn, verdict = objective_cells(row)
        thresholds = row.judgement.thresholds
        statistic = (
            f"{row.judgement.statistic:.2f} ({thresholds['fail_at']:.2f}, "
            f"{thresholds['pass_at']:.2f})"
        )
        cells = (name, target, observed, burn, statistic, verdict)
        body.append(
            "<tr>"
            + "".join(f'<td style="padding:2px 8px">{html.escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    return f'<table style="border-collapse:collapse"><tr>{head}</tr>{"".join(body)}</table>'


def latency_chart(
    intervals: Sequence[IntervalSummary], thresholds_ms: Sequence[float], started_at: float | None
) -> str:
    """An inline SVG line chart of p50 and p99 per interval, with the SLO threshold lines."""
    if not intervals:
        return "<p>No request was recorded, so there is no latency to chart.</p>"
    origin = started_at if started_at is not None else intervals[0].start
    # Each interval's point at its middle; the axis runs to the end of the last one.
    xs = [max(i.start + i.length_s / 2 - origin, 0.0) for i in intervals]
    x_max = max(intervals[-1].start + intervals[-1].length_s - origin, 1.0)
    y_max = max(max(i.p99_ms for i in intervals), *thresholds_ms, 1.0) * 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + plot_w * seconds / x_max

    def y(millis: float) -> float:
        return TOP + plot_h * (1 - millis / y_max)

    parts = [_axes(x, y, x_max, y_max)]
    for threshold in thresholds_ms:
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(threshold):.1f}" '
            f'y2="{y(threshold):.1f}" stroke="{THRESHOLD_COLOUR}" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + plot_w - 4}" y="{y(threshold) - 4:.1f}" text-anchor="end" '
            f'fill="{THRESHOLD_COLOUR}" font-size="11">SLO threshold {threshold:g} ms</text>'
        )
    for offset, (name, colour) in enumerate(SERIES):
        values = [getattr(i, f"{name}_ms") for i in intervals]
        points = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in zip(xs, values, strict=True))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{name} per interval</title></polyline>"
            f'<text x="{LEFT + 8 + 60 * offset}" y="{TOP + 12}" fill="{colour}" '
            f'font-size="12">{name}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="latency over time">'
        + "".join(parts)
        + "</svg>"
    )


def _axes(x: Scale, y: Scale, x_max: float, y_max: float) -> str:
    plot_bottom, plot_right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}" stroke="#444"/>'
        f'<line x1="{LEFT}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" '
        'stroke="#444"/>'
    ]
    for millis in _ticks(y_max):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(millis) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{millis:g}</text>"
        )
    for seconds in _ticks(x_max):
        parts.append(
            f'<text x="{x(seconds):.1f}" y="{plot_bottom + 16}" text-anchor="middle" '
            f'font-size="11">{seconds:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + (plot_right - LEFT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
        'font-size="11">seconds since the start of the run</text>'
        f'<text x="14" y="{TOP + (plot_bottom - TOP) / 2}" font-size="11" '
        f'transform="rotate(-90 14 {TOP + (plot_bottom - TOP) / 2})" text-anchor="middle">'
        "latency (ms)</text>"
    )
    return "".join(parts)


def _ticks(top: float) -> list[float]:
    """Round tick values from 0 up to `top`: steps of 1, 2 or 5 times a power of ten, 4-8 ticks."""
    step = 10 ** math.floor(math.log10(top / 4))
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 8:
            step *= factor
            break
    return [step * i for i in range(int(top / step) + 1)]


def add_to_report(path: Path, section: str) -> None:
    """Put `section` at the top of the report at `path`, or write it as a page of its own."""
    try:
        page = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        page = ""
    body = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    if body is None:
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>SLO gate</title></head>'
            f"<body>{section}</body></html>\n"
        )
    else:
        page = page[: body.end()] + section + page[body.end() :]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")

"""The decision record of a release: reports/release/<id>/decision.json and decision.html.

Written from the release state after every check, so an interrupted release still has its
record, and a resumed one completes it. The HTML is one file with inline SVG charts (canary
against baseline, bad share per window for each SLO), no script.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from release import analysis
from release.environment import Environment
from release.state import ReleaseState

WIDTH, HEIGHT, PAD = 640, 220, 44


def build(env: Environment, state: ReleaseState) -> dict[str, Any]:
    steps = []
    for index, step in enumerate(env.canary.steps):
        checks = []
        for position, check in enumerate(state.checks):
            if check["step"] != index:
                continue
            judgement = analysis.judge(env, state.checks[: position + 1])
            checks.append({**check, "judgement": judgement})
        steps.append(
            {
                "step": index,
                "percent": step.percent,
                "min_duration_s": step.min_duration.total_seconds(),
                "verdict": checks[-1]["judgement"]["verdict"] if checks else None,
                "checks": checks,
            }
        )
    return {
        "id": state.id,
        "environment": env.name,
        "service": env.service_name,
        "sha": state.sha,
        "canary_revision": state.canary,
        "stable_revision": state.stable,
        "phase": state.phase,
        "gate": state.gate,
        "outcome": state.outcome,
        "serving_before": state.before,
        "alpha": env.canary.alpha,
        "beta": env.canary.beta,
        "slos": {
            o.name: {
                "sli": o.sli,
                "goal": o.goal,
                "threshold_ms": o.threshold_ms,
                "budget": o.error_budget,
            }
            for o in env.slos.objectives
        },
        "steps": steps,
    }


def write(directory: Path, env: Environment, state: ReleaseState) -> Path:
    directory = directory / state.id
    directory.mkdir(parents=True, exist_ok=True)
    document = build(env, state)
    (directory / "decision.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    (directory / "decision.html").write_text(render_html(document), "utf-8")
    return directory


def render_html(document: dict[str, Any]) -> str:
    e = html.escape
    rows = [
        _row(step, check, name, item)
        for step in document["steps"]
        for check in step["checks"]
        for name, item in check["judgement"]["objectives"].items()
    ]
    charts = "".join(_chart(document, name) for name in document["slos"])
    head = (
        f"<h1>Release {e(document['id'])}: {e(document['phase'])}</h1>"
        f"<p>{e(document['service'])}: canary {e(document['canary_revision'])} against "
        f"{e(str(document['stable_revision']))}; gate: {e(document['gate'])}; "
        f"alpha {document['alpha']}, beta {document['beta']}.</p>"
        f"<p>{e(document['outcome'])}</p>"
    )
    table = (
        "<table><tr><th>step</th><th>traffic</th><th>SLO</th><th>canary bad/total</th>"
        "<th>baseline bad/total</th><th>SPRT log LR</th><th>log Bayes factor</th>"
        "<th>verdict</th><th>why</th></tr>" + "".join(rows) + "</table>"
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Release {e(document['id'])}"
        f"</title><style>{style}</style></head><body>{head}{charts}{table}</body></html>\n"
    )


def _row(step: dict, check: dict, name: str, item: dict) -> str:
    cells = (
        step["step"],
        f"{step['percent']}%",
        name,
        "{}/{}".format(*check["canary"][name]),
        "{}/{}".format(*check["baseline"][name]),
        _number(item["rate"]["statistic"]),
        _number(item["comparison"]["statistic"]),
        item["verdict"],
    )
    why = f"{html.escape(item['rate']['reason'])}<br>{html.escape(item['comparison']['reason'])}"
    return (
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + f"<td>{why}</td></tr>"
    )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _chart(document: dict[str, Any], name: str) -> str:
    """Bad share per window (canary solid red, baseline dashed blue), the SLO's error budget
    dotted, step boundaries grey."""
    points = [
        (step["step"], check["canary"][name], check["baseline"][name])
        for step in document["steps"]
        for check in step["checks"]
    ]
    title = f"{name}: share of bad requests per window (canary red, baseline blue)"
    if not points:
        return f"<h2>{html.escape(title)}</h2><p>No window read.</p>"
    shares = [[b / t if t else None for b, t in (c, s)] for _, c, s in points]
    budget = document["slos"][name]["budget"]
    top = max([v for pair in shares for v in pair if v is not None] + [budget]) * 1.15
    n = len(points)

    def xy(i: int, value: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * (i / max(n - 1, 1))
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value / top)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for column, style in ((0, "stroke:#c00"), (1, "stroke:#04c;stroke-dasharray:4 3")):
        coords = " ".join(
            xy(i, pair[column]) for i, pair in enumerate(shares) if pair[column] is not None
        )
        if coords:
            lines.append(
                f"<polyline fill='none' style='{style};stroke-width:2' points='{coords}'/>"
            )
    marks = [
        f"<line x1='{xy(i, 0).split(',')[0]}' y1='{PAD}' x2='{xy(i, 0).split(',')[0]}' "
        f"y2='{HEIGHT - PAD}' stroke='#bbb'/>"
        for i in range(1, n)
        if points[i][0] != points[i - 1][0]
    ]
    bottom = HEIGHT - PAD
    axis = (
        f"<line x1='{PAD}' y1='{bottom}' x2='{WIDTH - PAD}' y2='{bottom}' stroke='#000'/>"
        f"<text x='4' y='{PAD}' font-size='11'>{top * 100:.3g}%</text>"
        f"<text x='4' y='{HEIGHT - PAD}' font-size='11'>0%</text>"
        f"<text x='{PAD}' y='{HEIGHT - 12}' font-size='11'>windows (grey: next traffic step)</text>"
    )
    y_budget = xy(0, budget).split(",")[1]
    axis += (
        f"<line x1='{PAD}' y1='{y_budget}' x2='{WIDTH - PAD}' y2='{y_budget}' stroke='#888' "
        f"stroke-dasharray='2 4'/><text x='{WIDTH - PAD + 2}' y='{y_budget}' font-size='11'>"
        "budget</text>"
    )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' role='img'>"
        f"{axis}{''.join(marks)}{''.join(lines)}</svg>"
    )
    return f"<h2>{html.escape(title)}</h2>{svg}"

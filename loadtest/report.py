"""The gate's table (printed at the end of a run) and summary.json (for CI), one run folder each."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import arrivals
from loadtest.gate import NOT_ENOUGH_DATA, GateResult, ObjectiveRow, percent
from loadtest.recorder import (
    AUTH_OR_QUOTA,
    CLIENT_ERROR,
    GOOD,
    NO_ANSWER,
    OUTCOMES,
    SERVER_ERROR,
    WRONG_ANSWER,
    Recorder,
)

SUMMARY_FILE = "summary.json"
# 2: rows carry slo.stats' judgement (statistic, thresholds) and requests_to_pass; the verdict
# NOT ENOUGH DATA replaces UNJUDGED; "timeline" holds latency and failures per interval.
SCHEMA_VERSION = 2
_OUTCOME_WORDS = {
    GOOD: "good",
    SERVER_ERROR: "5xx",
    NO_ANSWER: "no answer",
    WRONG_ANSWER: "wrong answer",
    CLIENT_ERROR: "unexpected 4xx",
    AUTH_OR_QUOTA: "401/403/429",
}


@dataclass(frozen=True)
class RunInfo:
    """What was run, against what, when: the summary's metadata."""

    target: str
    shape: str
    model: str  # "open" (arrival rate) or "closed" (users)
    users: int | None
    arrival_rate: float | None  # peak requests/s in the open model
    target_mean_rate: float | None  # the shape's average of the arrival rate
    planned_duration_s: float
    started_at: float | None
    ended_at: float | None
    workers: int
    slo_file: str
    git_revision: str | None
    locust_version: str

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(self.ended_at - self.started_at, 1e-9)


def git_revision(directory: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH is the point
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def render_table(result: GateResult, recorder: Recorder, info: RunInfo, service: str) -> str:
    """The k6-style summary: one line per objective, then the evidence, then the verdict."""
    header = ("objective", "target", "observed", "burn rate", "verdict")
    rows = [header, *(objective_cells(row) for row in result.rows)]
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(header))]
    lines = [f"SLO gate: {service} ({info.slo_file}) against {info.target}"]
    for cells in rows:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        lines.append(("  " + "  ".join(padded)).rstrip())
    lines.append("")
    latency = recorder.latency()
    if latency is not None:
        lines.append(
            f"  latency (ms)   p50 {latency.p50_ms:.1f}  p95 {latency.p95_ms:.1f}  "
            f"p99 {latency.p99_ms:.1f}  max {latency.max_ms:.1f}  (HdrHistogram, every request)"
        )
    outcomes = ", ".join(f"{_OUTCOME_WORDS[name]} {recorder.outcomes[name]:,}" for name in OUTCOMES)
    lines.append(f"  requests       {recorder.total:,}: {outcomes}")
    lines.append(f"  load           {_load_line(recorder, info)}")
    lines.append(f"  result         {result.verdict} (exit {int(result.exit_code)})")
    lines.extend(f"    - {reason}" for reason in result.reasons)
    return "\n".join(lines)


def build_summary(
    result: GateResult, recorder: Recorder, info: RunInfo, service: str
) -> dict[str, Any]:
    latency = recorder.latency()
    return {
        "schema_version": SCHEMA_VERSION,
        "result": {
            "exit_code": int(result.exit_code),
            "verdict": result.verdict,
            "reasons": list(result.reasons),
        },
        "gate": [_objective_json(row) for row in result.rows],
        "latency_ms": latency.as_dict() if latency else None,
        # Per 5-second interval, as report.html charts it (start: epoch seconds).
        "timeline": [asdict(interval) for interval in recorder.timeline.summaries()],
        "requests": {
            "total": recorder.total,
            "outcomes": {name: recorder.outcomes[name] for name in OUTCOMES},
            "status_codes": dict(sorted(recorder.statuses.items())),
        },
        "load": _load_json(recorder, info),
        "run": {
            **asdict(info),
            "service": service,
            "started_at": _iso(info.started_at),
            "ended_at": _iso(info.ended_at),
            "elapsed_s": info.elapsed_s,
        },
    }


def write_summary(report_dir: Path, summary: dict[str, Any]) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def objective_cells(row: ObjectiveRow) -> tuple[str, ...]:
    observed = (
        f"{percent(row.observed)} ({row.bad:,} of {row.total:,} {row.bad_word})"
        if row.total
        else "no requests"
    )
    burn = f"{row.burn_rate:.2f}x" if row.burn_rate is not None else "n/a"
    verdict = str(row.verdict)
    if row.verdict == NOT_ENOUGH_DATA:
        verdict += f" (needs {row.needed:,} requests)"
    return (row.objective.name, row.target, observed, burn, verdict)


def _objective_json(row: ObjectiveRow) -> dict[str, Any]:
    judgement = row.judgement.as_dict()
    return {
        "objective": row.objective.name,
        "sli": row.objective.sli,
        "goal": row.objective.goal,
        "threshold_ms": row.objective.threshold_ms,
        "target": row.target,
        "observed": row.observed,
        "total": row.total,
        "bad": row.bad,
        "burn_rate": row.burn_rate,
        "requests_to_pass": row.needed,
        "test": "sprt",
        "statistic": judgement["statistic"],
        "thresholds": judgement["thresholds"],
        "verdict": judgement["verdict"],
    }


def _load_json(recorder: Recorder, info: RunInfo) -> dict[str, Any]:
    elapsed = info.elapsed_s
    achieved = recorder.total / elapsed if elapsed else None
    load: dict[str, Any] = {"model": info.model, "achieved_rate": achieved}
    if info.model == "open":
        load.update(
            target_peak_rate=info.arrival_rate,
            target_mean_rate=info.target_mean_rate,
            arrivals={
                key: recorder.arrivals[key]
                for key in (arrivals.SCHEDULED, arrivals.STARTED, arrivals.LATE, arrivals.DROPPED)
            },
        )
    return load


def _load_line(recorder: Recorder, info: RunInfo) -> str:
    load = _load_json(recorder, info)
    achieved = load["achieved_rate"]
    achieved_text = f"{achieved:.1f}/s" if achieved is not None else "n/a"
    if info.model != "open":
        return f"closed model, {info.users} users at peak, achieved {achieved_text}"
    counts = load["arrivals"]
    dropped = counts[arrivals.DROPPED]
    advice = " (no user was free: raise --users)" if dropped else ""
    return (
        f"open model, target {info.target_mean_rate:.1f}/s on average "
        f"(peak {info.arrival_rate:g}/s), achieved {achieved_text}; "
        f"late {counts[arrivals.LATE]:,}, dropped {dropped:,}{advice}"
    )


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")

"""Helpers for running `python -m loadtest` end to end (127.0.0.1 only, short runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Goals that a short test run can judge: 99% needs 299 requests, 95% needs 59.
JUDGEABLE_SLOS = """\
service: prediction-service
window_days: 30
objectives:
  - name: availability
    sli: availability
    goal: 0.99
  - name: latency
    sli: latency
    threshold_ms: 200
    goal: 0.95
"""


class LoadtestRun:
    def __init__(self, completed: subprocess.CompletedProcess, report_base: Path) -> None:
        self.completed = completed
        self.code = completed.returncode
        self.output = completed.stdout + completed.stderr
        runs = sorted(report_base.iterdir()) if report_base.exists() else []
        self.run_dir = runs[-1] if runs else None

    @property
    def summary(self) -> dict:
        return json.loads((self.run_dir / "summary.json").read_text())

    def verdicts(self) -> dict[str, str]:
        return {row["objective"]: row["verdict"] for row in self.summary["gate"]}


def loadtest_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    env.pop("LOADTEST_ID_TOKEN", None) if "LOADTEST_ID_TOKEN" not in extra else None
    return env


@pytest.fixture
def judgeable_slos(tmp_path) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(JUDGEABLE_SLOS, encoding="utf-8")
    return path


@pytest.fixture
def run_loadtest(tmp_path):
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> LoadtestRun:
        reports = tmp_path / "reports"
        completed = subprocess.run(
            [sys.executable, "-m", "loadtest", "--report-dir", str(reports), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env or loadtest_env(),
            timeout=timeout,
        )
        return LoadtestRun(completed, reports)

    return run

"""Shared by the monitoring tests: run the CLI in-process, tell writes from reads."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.cloud import monitoring_v3

import monitoring
from monitoring.cli import main
from monitoring.clients import Clients
from tests.monitoring.fake import FakeGoogleCloud

STAGING_PROJECT = "fashion-serve-staging"
STAGING_CHANNEL = "Staging on-call (email)"  # what environments/staging.yaml refers to
DEFINITIONS = Path(monitoring.__file__).resolve().parent


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*argv: str | Path) -> Run:
    """`python -m monitoring ARGV` in this process (the same main() the module runs)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


def writes(cloud: FakeGoogleCloud) -> dict[str, int]:
    """The calls that changed something (everything but List*)."""
    return {
        name: count
        for name, count in cloud.calls.items()
        if not name.split(".", 1)[1].startswith("List")
    }


def create_hand_made_policy(clients: Clients, display_name: str, **labels: str) -> Any:
    """An alert policy as someone would make it in the console: no managed-by label."""
    absent = monitoring_v3.AlertPolicy.Condition.MetricAbsence(
        filter='metric.type="run.googleapis.com/request_count"', duration={"seconds": 600}
    )
    return clients.alert_policies.create_alert_policy(
        name=f"projects/{STAGING_PROJECT}",
        alert_policy=monitoring_v3.AlertPolicy(
            display_name=display_name,
            user_labels=labels,
            combiner=monitoring_v3.AlertPolicy.ConditionCombinerType.OR,
            conditions=[
                monitoring_v3.AlertPolicy.Condition(display_name="absent", condition_absent=absent)
            ],
        ),
    )

"""Shared by the monitoring tests: run the CLI in-process, tell writes from reads."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import monitoring
from monitoring.cli import main
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

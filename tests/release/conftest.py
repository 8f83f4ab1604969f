"""Fixtures for the release tests: the local Cloud Run + Monitoring server, an environment file
with step durations of a fraction of a second, and `python -m release` run as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from release.environment import ENVIRONMENTS_DIR
from tests.release.fake import FakeCloud, RevisionScript

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT, REGION, SERVICE = "fashion-serve-staging", "europe-west1", "prediction-service"
STABLE = f"{SERVICE}-00001-abc"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/serving/prediction-service:1a2b3c4"
SHA = "1a2b3c4"
CANARY = f"{SERVICE}-{SHA}"
# A healthy revision: a fifth of the 0.1% error budget, a fifth of the 1% latency budget.
GOOD = RevisionScript(error_share=0.0002, slow_share=0.002)


def fast_environment(directory: Path, **canary: object) -> Path:
    """staging.yaml with steps of 10%, 50% and 100% lasting ~0.6 s of metrics each."""
    document = yaml.safe_load((ENVIRONMENTS_DIR / "staging.yaml").read_text(encoding="utf-8"))
    document["canary"].update(
        {
            "steps": [{"percent": p, "min_duration": 0.6} for p in (10, 50, 100)],
            "metric_delay": 0.3,
            "poll": 0.15,
            "not_enough_data_limit": 2.0,
        }
    )
    document["canary"].update(canary)
    path = directory / "test.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    """A project whose service runs one revision deployed before (traffic LATEST 100%)."""
    fake = FakeCloud(PROJECT, REGION, SERVICE)
    fake.metrics.sample_s, fake.metrics.ingest_delay_s = 0.1, 0.2
    fake.metrics.requests_per_s = 100_000.0
    fake.run.seed(fake.service_name, STABLE, IMAGE.replace(SHA, "0000000"))
    fake.start()
    yield fake
    fake.stop()


@dataclass
class Runner:
    cloud: FakeCloud
    env_file: Path
    reports: Path

    def command(self, *args: str) -> list[str]:
        command, rest = args[0], list(args[1:])
        return [
            sys.executable,
            "-m",
            "release",
            command,
            "--env",
            str(self.env_file),
            "--endpoint",
            self.cloud.endpoint,
            "--reports",
            str(self.reports),
            *rest,
        ]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO_ROOT,
            env=_environ(),
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO_ROOT,
            env=_environ(),
        )


def _environ() -> dict[str, str]:
    environ = dict(os.environ)
    environ.pop("RELEASE_ENDPOINT", None)
    environ["PYTHONPATH"] = str(REPO_ROOT)
    return environ


@pytest.fixture
def runner(cloud: FakeCloud, tmp_path: Path) -> Runner:
    return Runner(cloud, fast_environment(tmp_path), tmp_path / "reports")

"""`gate`: the Locust load gate against the canary's tag URL (here a local service that the
fake Cloud Run names as the tag's URI), judged on the release's SLO file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.local_service import LocalService
from tests.release.conftest import IMAGE, SHA, STABLE, Runner

# Goals a run of a few seconds can judge (a 5% budget passes after ~60 good requests).
SHORT_RUN_SLOS = """\
service: prediction-service
window_days: 30
objectives:
  - {name: availability, sli: availability, goal: 0.95}
  - {name: latency, sli: latency, threshold_ms: 200, goal: 0.95}
"""


@pytest.fixture(scope="module")
def local_service(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("gate") / "service.log"
    with LocalService(log, environ={"BACKEND": "embedded"}) as service:
        yield service


def gate(runner: Runner, tmp_path: Path, url: str, *loadtest: str):
    runner.cloud.run.uri_for_tag = lambda tag: url
    slos = tmp_path / "slos.yaml"
    slos.write_text(SHORT_RUN_SLOS, encoding="utf-8")
    deployed = runner.run("deploy", "--image", IMAGE, "--sha", SHA, "--slo-file", str(slos))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    flags = ["--shape", "ramp", "--auth", "none", *loadtest]
    return runner.run("gate", "--sha", SHA, "--slo-file", str(slos), "--", *flags, timeout=120)


def summary(runner: Runner) -> dict:
    (path,) = runner.reports.glob("*/gate/*/summary.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_passed_gate_lets_the_canary_start(runner, tmp_path, local_service) -> None:
    result = gate(runner, tmp_path, local_service.url, "--duration", "8s", "--rate", "30")

    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(runner)["result"]["exit_code"] == 0
    assert f"gate: load test of {local_service.url}" in result.stdout
    service = runner.cloud.service()
    assert "gated" in service.annotations["fashion-serve.dev/release"]
    assert [(s.revision, s.percent) for s in service.traffic_statuses if s.percent] == [
        (STABLE, 100)
    ]


def test_a_gate_that_cannot_judge_stops_the_release_with_traffic_unchanged(
    runner, tmp_path, local_service
) -> None:
    result = gate(runner, tmp_path, local_service.url, "--duration", "2s", "--rate", "5")

    assert result.returncode == 2, result.stdout + result.stderr
    service = runner.cloud.service()
    assert [(s.revision, s.percent) for s in service.traffic_statuses if s.percent] == [
        (STABLE, 100)
    ]
    state = json.loads(service.annotations["fashion-serve.dev/release"])
    assert state["phase"] == "stopped" and state["gate"] == "cannot judge"
    canary = runner.run("canary", "--sha", SHA, "--no-gate")
    assert canary.returncode == 2 and "already over" in canary.stderr

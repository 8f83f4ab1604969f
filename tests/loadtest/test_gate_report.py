"""The printed table and summary.json."""

import json
import math

import pytest

import slo
from loadtest.gate import GeneratorHealth, evaluate
from loadtest.recorder import Recorder
from loadtest.report import RunInfo, build_summary, render_table, write_summary

INFO = RunInfo(
    target="http://127.0.0.1:8080",
    shape="ramp",
    model="open",
    users=25,
    arrival_rate=100.0,
    target_mean_rate=87.5,
    planned_duration_s=60.0,
    started_at=1_800_000_000.0,
    ended_at=1_800_000_060.0,
    workers=1,
    slo_file="slo/slos.yaml",
    git_revision="0123abcd",
    locust_version="2.47.0",
)


def recorded(total: int, failed: int, slow: int) -> Recorder:
    recorder = Recorder([200])
    for index in range(total):
        status = 503 if index < failed else 200
        millis = 250.0 if index >= total - slow else 4.0
        recorder.record(millis, status, failed=index < failed, at=INFO.started_at + 1)
    recorder.arrivals.update(scheduled=total + 3, started=total, late=5, dropped=3)
    return recorder


def test_the_table_has_one_row_per_objective_then_the_evidence_and_verdict():
    recorder = recorded(5250, failed=10, slow=5)
    result = evaluate(slo.load_slos(), recorder, GeneratorHealth())
    lines = render_table(result, recorder, INFO, "prediction-service").splitlines()
    assert lines[0] == "SLO gate: prediction-service (slo/slos.yaml) against http://127.0.0.1:8080"
    assert lines[1].split() == ["objective", "target", "observed", "burn", "rate", "verdict"]
    assert lines[2].split() == [
        "availability",
        "99.9%",
        "not",
        "failed",
        "99.81%",
        "(10",
        "of",
        "5,250",
        "failed)",
        "1.90x",
        "FAIL",
    ]
    assert lines[3].split()[-2:] == ["0.10x", "PASS"]
    text = "\n".join(lines)
    assert "p50 4.0" in text and "max 250.1" in text
    assert "requests       5,250: good 5,240, 5xx 10," in text
    assert "target 87.5/s on average (peak 100/s), achieved 87.5/s; late 5, dropped 3" in text
    assert "result         FAIL (exit 1)" in text
    assert "availability: 10 of 5,250 requests failed" in text


def test_a_row_without_enough_data_says_how_many_requests_it_needs():
    recorder = recorded(100, failed=0, slow=0)
    result = evaluate(slo.load_slos(), recorder, GeneratorHealth())
    text = render_table(result, recorder, INFO, "prediction-service")
    assert "NOT ENOUGH DATA (needs 3,114 requests)" in text
    assert "NOT ENOUGH DATA (needs 310 requests)" in text


def test_summary_json_for_ci(tmp_path):
    recorder = recorded(5250, failed=0, slow=0)
    result = evaluate(slo.load_slos(), recorder, GeneratorHealth())
    path = write_summary(tmp_path, build_summary(result, recorder, INFO, "prediction-service"))
    summary = json.loads(path.read_text())
    assert summary["result"] == {"exit_code": 0, "verdict": "PASS", "reasons": []}
    assert summary["schema_version"] == 2
    availability = summary["gate"][0]
    statistic = availability.pop("statistic")
    assert statistic == pytest.approx(5250 * math.log(0.999 / 0.9995), rel=1e-6)
    assert availability.pop("thresholds") == {
        "fail_at": pytest.approx(2.7726, abs=1e-4),
        "pass_at": pytest.approx(-1.5581, abs=1e-4),
        "p0": pytest.approx(0.0005),
        "p1": pytest.approx(0.001),
    }
    assert availability == {
        "objective": "availability",
        "sli": "availability",
        "goal": 0.999,
        "threshold_ms": None,
        "target": "99.9% not failed",
        "observed": 1.0,
        "total": 5250,
        "bad": 0,
        "burn_rate": 0.0,
        "requests_to_pass": 3114,
        "test": "sprt",
        "verdict": "PASS",
    }
    assert summary["requests"]["status_codes"] == {"200": 5250}
    (interval,) = summary["timeline"]  # recorded() puts every request in the first second
    assert (interval["total"], interval["failed"]) == (5250, 0)
    assert interval["p50_ms"] == pytest.approx(4.0, rel=0.005)
    assert summary["load"]["achieved_rate"] == 87.5
    assert summary["load"]["arrivals"] == {
        "scheduled": 5253,
        "started": 5250,
        "late": 5,
        "dropped": 3,
    }
    run = summary["run"]
    assert run["started_at"] == "2027-01-15T08:00:00+00:00"
    assert run["elapsed_s"] == 60.0
    assert (run["git_revision"], run["target"], run["shape"]) == (
        "0123abcd",
        "http://127.0.0.1:8080",
        "ramp",
    )

"""`python -m loadtest --backend vertex-fake`: the two-tier path as the load test's target
(BACKEND=vertex, one worker, in front of fakes/vertex_server.py), through the real entry point."""

from __future__ import annotations

import json

import pytest

from loadtest.two_tier import parse_fault


def test_a_two_tier_run_is_judged_and_the_upstreams_calls_are_recorded(
    run_loadtest, judgeable_slos
):
    run = run_loadtest(
        "--backend", "vertex-fake", "--upstream-latency-ms", "50",
        "--slo-file", str(judgeable_slos), "--duration", "15s", "--rate", "30",
    )  # fmt: skip
    assert run.code in (0, 1), run.output  # judged (a shared machine may breach latency)
    assert "Vertex AI fake on 127.0.0.1:" in run.output
    assert run.verdicts()["availability"] == "PASS", run.output
    upstream = json.loads((run.run_dir / "upstream.json").read_text())
    predictions = run.summary["requests"]["outcomes"]["good"]
    assert upstream["attempts"] >= 0.5 * predictions  # every prediction went upstream...
    assert upstream["faults_served"] == {}
    log = (run.run_dir / "service.log").read_text()
    assert '"backend": "vertex"' in log  # ...through the service's Vertex AI backend


def test_an_upstream_fault_window_gives_503s_in_that_window_only(run_loadtest, judgeable_slos):
    run = run_loadtest(
        "--backend", "vertex-fake", "--upstream-fault", "unavailable@6+3",
        "--slo-file", str(judgeable_slos), "--duration", "15s", "--rate", "30",
    )  # fmt: skip
    assert run.code == 1, run.output  # the outage breaches availability
    upstream = json.loads((run.run_dir / "upstream.json").read_text())
    assert upstream["faults_served"].get("unavailable", 0) > 0
    assert run.verdicts()["availability"] == "FAIL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hang", ("hang", 0.0, None)),
        ("unavailable@20+20", ("unavailable", 20.0, 20.0)),
        ("deadline@5", ("deadline", 5.0, None)),
    ],
)
def test_fault_windows_parse(text, expected):
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream-fault", "unavailable"], "--upstream-fault needs --backend vertex-fake"),
        (["--backend", "vertex-fake", "--upstream-fault", "meteor"], "unknown fault kind"),
        (["--backend", "vertex-fake", "--upstream-fault", "hang@x"], "AFTER and FOR"),
        (["--backend", "vertex-fake", "--host", "http://127.0.0.1:1"], "only applies"),
        (["--backend", "vertex-fake", "--upstream-latency-ms", "-1"], "must be >= 0"),
    ],
)
def test_bad_two_tier_flags_exit_2_naming_the_problem(run_loadtest, args, message):
    run = run_loadtest(*args, timeout=60)
    assert run.code == 2 and message in run.output, run.output

"""The canary simulation: an equal canary is rarely rolled back, a much worse one nearly always.

Fixed seeds and fewer releases than the README's run; the bounds are on counts, not on time.
"""

import subprocess
import sys

import pytest

import slo
from benchmarks.canary_simulation import (
    BUILT_IN_PLAN,
    PROMOTED,
    ROLLED_BACK,
    Scenario,
    Sli,
    load_plan,
    run_scenario,
    share,
)
from tests.loadtest.conftest import REPO

SLIS = [Sli(o.name, o.error_budget, 0.3 * o.error_budget) for o in slo.load_slos().objectives]


def simulate(*args: str) -> subprocess.CompletedProcess:
    """`python -m benchmarks.canary_simulation ARGS`, as a user runs it."""
    command = [sys.executable, "-m", "benchmarks.canary_simulation", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)


def test_the_false_rollback_bound_is_met_through_the_command_line():
    completed = simulate("--releases", "300", "--power-releases", "0", "--seed", "7")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "bound alpha + 1 point = 6%: met" in completed.stdout
    equal = next(line for line in completed.stdout.splitlines() if line.startswith("equal "))
    assert equal.split()[1] == "300"


def test_a_canary_five_times_worse_in_errors_is_rolled_back():
    outcomes = run_scenario(
        Scenario("5x errors", {"availability": 5.0}), 60, 3, BUILT_IN_PLAN, SLIS, rate=50.0
    )
    assert share(outcomes, ROLLED_BACK) >= 0.9
    assert share(outcomes, PROMOTED) == 0.0
    causes = [o.cause for o in outcomes if o.decision == ROLLED_BACK]
    assert sum(cause.startswith("availability") for cause in causes) >= 0.9 * len(causes)


def test_no_traffic_is_never_promoted():
    outcomes = run_scenario(Scenario("equal", {}), 5, 3, BUILT_IN_PLAN, SLIS, rate=0.01)
    assert {o.decision for o in outcomes} == {"cannot judge"}


def test_the_step_plan_comes_from_the_release_environment_file(tmp_path):
    path = tmp_path / "production.yaml"
    path.write_text(
        "canary:\n  steps:\n    - {percent: 10, min_duration: 5m}\n"
        "    - {percent: 100, min_duration: 10m}\n  not_enough_data_limit: 30m\n  alpha: 0.01\n"
    )
    plan = load_plan(path)
    assert plan.steps == ((10, 300.0), (100, 600.0))
    assert (plan.wait_limit_s, plan.alpha, plan.beta) == (1800.0, 0.01, 0.2)
    assert load_plan(tmp_path / "absent.yaml") is BUILT_IN_PLAN


def test_a_bad_environment_file_names_the_file_and_field(tmp_path):
    path = tmp_path / "production.yaml"
    path.write_text("canary:\n  steps:\n    - {percent: 10, min_duration: soon}\n")
    with pytest.raises(SystemExit, match=r"production\.yaml: canary: expected a duration"):
        load_plan(path)


def test_bad_flags_exit_2_with_a_message():
    completed = simulate("--rate", "0")
    assert completed.returncode == 2
    assert "--rate > 0" in completed.stderr

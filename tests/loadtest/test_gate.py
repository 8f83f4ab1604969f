"""The gate's verdicts and exit codes against hand-computed cases.

SLOs used throughout (the committed defaults): availability 99.9% and latency 99% under 200 ms.
Each row is slo.stats.judge_rate, Wald's SPRT between half the budget and the budget: with no
bad request it passes from 3,114 requests (99.9%) and 310 (99%); each failure moves the log
likelihood ratio up by ln 2, each good request down by about half the budget.
"""

import math

import pytest

import slo
from loadtest.gate import FAIL, NOT_ENOUGH_DATA, PASS, ExitCode, GeneratorHealth, evaluate
from loadtest.recorder import Recorder
from slo.stats import Counts, judge_rate

SLOS = slo.load_slos()
HEALTHY = GeneratorHealth()


def run(total, failed=0, slow=0, auth=0, status_failed=503):
    """A recorder with `total` requests: `failed` 5xx, `slow` (250 ms) and `auth` 401s."""
    recorder = Recorder([200])
    for index in range(total):
        millis = 250.0 if index < slow else 5.0
        if index < failed:
            recorder.record(millis, status_failed, failed=True)
        elif index < failed + auth:
            recorder.record(millis, 401, failed=True)
        else:
            recorder.record(millis, 200, failed=False)
    return recorder


def verdicts(result):
    return {row.objective.name: row.verdict for row in result.rows}


def test_a_long_clean_run_passes():
    result = evaluate(SLOS, run(7000, failed=2, slow=10), HEALTHY)
    assert result.exit_code == ExitCode.PASS
    assert verdicts(result) == {"availability": PASS, "latency": PASS}
    assert result.reasons == ()


def test_each_row_is_the_judgement_the_canary_would_make():
    result = evaluate(SLOS, run(3000, failed=6, slow=40), HEALTHY)
    availability, latency = result.rows
    assert availability.judgement == judge_rate(Counts(6, 3000), SLOS.objectives[0].error_budget)
    assert latency.judgement == judge_rate(Counts(40, 3000), SLOS.objectives[1].error_budget)


def test_a_run_at_the_budget_is_not_a_pass():
    # 3 failures in 3,000 is exactly 0.1%: not shown to be within the budget, so not a pass.
    at_budget = evaluate(SLOS, run(3000, failed=3), HEALTHY)
    assert verdicts(at_budget) == {"availability": NOT_ENOUGH_DATA, "latency": PASS}
    assert at_budget.exit_code == ExitCode.CANNOT_JUDGE
    # 6 in 3,000 is not yet proof of a breach (log LR 2.66 < 2.77); 7 is (3.35).
    assert verdicts(evaluate(SLOS, run(3000, failed=6), HEALTHY))["availability"] == NOT_ENOUGH_DATA
    breached = evaluate(SLOS, run(3000, failed=7), HEALTHY)
    assert breached.exit_code == ExitCode.BREACH
    assert verdicts(breached) == {"availability": FAIL, "latency": PASS}
    assert breached.reasons[0].startswith(
        "availability: 7 of 3,000 requests failed (0.233%): the 99.9% goal is breached, the data "
        "favours a bad share at its 0.1% budget or above over half of it (log likelihood ratio "
        "3.35 >= 2.77)"
    )


def test_burn_rate_and_observed_share():
    row = evaluate(SLOS, run(3000, failed=6), HEALTHY).rows[0]
    assert row.observed == pytest.approx(0.998)
    assert row.burn_rate == pytest.approx(2.0)  # 0.2% bad against a 0.1% budget
    assert row.judgement.statistic == pytest.approx(
        6 * math.log(2) + 2994 * math.log(0.999 / 0.9995), rel=1e-6
    )
    assert (row.bad, row.needed) == (6, 11_432)


def test_a_short_run_with_a_burst_of_failures_fails():
    # 100 requests, 5 failed: 5 ln 2 - 95 x 0.0005 = 3.42 >= 2.77, proven already.
    result = evaluate(SLOS, run(100, failed=5), HEALTHY)
    assert result.exit_code == ExitCode.BREACH
    assert result.reasons[0].startswith("availability: 5 of 100 requests failed (5%)")


def test_a_short_run_below_goal_but_not_proven_cannot_be_judged():
    # 2 failures in 100 is 98%, but not yet evidence against a 0.1% budget.
    result = evaluate(SLOS, run(100, failed=2), HEALTHY)
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert verdicts(result)["availability"] == NOT_ENOUGH_DATA
    assert any("5,787 more requests without a failed one" in reason for reason in result.reasons)


def test_too_few_requests_says_how_many_are_needed():
    result = evaluate(SLOS, run(1000), HEALTHY)
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert verdicts(result) == {"availability": NOT_ENOUGH_DATA, "latency": PASS}
    assert result.reasons == (
        "availability: 0 of 1,000 requests failed is not enough to show the 99.9% goal met; at "
        "least 2,114 more requests without a failed one are needed (3,114 in all; run longer or "
        "at a higher rate)",
    )


def test_latency_breach_proven_within_a_short_run():
    # 200 requests, 6 slower than 200 ms: 6 ln 2 - 194 x 0.00504 = 3.18 >= 2.77.
    result = evaluate(SLOS, run(200, slow=6), HEALTHY)
    assert result.exit_code == ExitCode.BREACH
    assert verdicts(result)["latency"] == FAIL
    assert verdicts(evaluate(SLOS, run(200, slow=5), HEALTHY))["latency"] == NOT_ENOUGH_DATA


def test_a_saturated_generator_outranks_a_breach():
    result = evaluate(SLOS, run(5000, failed=50), GeneratorHealth(True, 97.0))
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert "CPU went above 90% (peak 97%)" in result.reasons[0]
    assert "the data also shows a breach" in result.reasons[1]


def test_missing_worker_results_cannot_be_judged():
    result = evaluate(SLOS, run(5000), GeneratorHealth(missing_reports=("worker-2",)))
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert "worker-2" in result.reasons[0]


def test_a_breach_outranks_too_few_requests_and_auth_problems():
    result = evaluate(SLOS, run(300, failed=5, auth=200), HEALTHY)
    assert result.exit_code == ExitCode.BREACH


def test_a_run_dominated_by_401_403_429_cannot_be_judged():
    result = evaluate(SLOS, run(4000, auth=2500), HEALTHY)
    assert verdicts(result) == {"availability": PASS, "latency": PASS}  # 401 is not a 5xx
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert "62.5% of the answers were 401, 403 or 429" in result.reasons[0]


def test_some_401s_do_not_stop_the_verdict():
    assert evaluate(SLOS, run(4000, auth=1000), HEALTHY).exit_code == ExitCode.PASS


def test_no_requests_at_all_cannot_be_judged():
    result = evaluate(SLOS, Recorder([200]), HEALTHY)
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert "no request was made" in result.reasons[0]


@pytest.mark.parametrize("status", [0, 200, 422])
def test_no_answer_wrong_answer_and_unexpected_4xx_count_against_availability(status):
    result = evaluate(SLOS, run(3000, failed=10, status_failed=status), HEALTHY)
    assert verdicts(result)["availability"] == FAIL

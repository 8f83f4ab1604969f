"""The gate's verdicts and exit codes against hand-computed cases.

SLOs used throughout (the committed defaults): availability 99.9% (judged from 2,995 requests:
0.999 ** 2995 <= 0.05) and latency 99% under 200 ms (judged from 299 requests).
"""

import pytest

import slo
from loadtest.gate import FAIL, PASS, UNJUDGED, ExitCode, GeneratorHealth, evaluate
from loadtest.recorder import Recorder

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
    result = evaluate(SLOS, run(5000, failed=2, slow=10), HEALTHY)
    assert result.exit_code == ExitCode.PASS
    assert verdicts(result) == {"availability": PASS, "latency": PASS}
    assert result.reasons == ()


def test_the_budget_boundary_is_exact():
    # 3 failures in 3,000 is exactly 0.1%: met. A fourth is a breach.
    assert evaluate(SLOS, run(3000, failed=3), HEALTHY).exit_code == ExitCode.PASS
    breached = evaluate(SLOS, run(3000, failed=4), HEALTHY)
    assert breached.exit_code == ExitCode.BREACH
    assert verdicts(breached) == {"availability": FAIL, "latency": PASS}
    assert "4 of 3,000 requests failed" in breached.reasons[0]


def test_burn_rate_and_observed_share():
    row = evaluate(SLOS, run(3000, failed=6), HEALTHY).rows[0]
    assert row.observed == pytest.approx(0.998)
    assert row.burn_rate == pytest.approx(2.0)  # 0.2% bad against a 0.1% budget
    assert (row.bad, row.allowed_bad, row.needed) == (6, 3, 2995)


def test_a_short_run_that_already_proves_a_breach_fails():
    # 100 requests, 3 failed: even 2,895 more good requests would leave 3 > 2 allowed in 2,995.
    result = evaluate(SLOS, run(100, failed=3), HEALTHY)
    assert result.exit_code == ExitCode.BREACH
    assert "already exceed the 2 the 99.9% goal allows in the 2,995 requests" in result.reasons[0]


def test_a_short_run_below_goal_but_not_proven_cannot_be_judged():
    # 2 failures in 100 is 98%, but 2 failures in 2,995 requests would still meet 99.9%.
    result = evaluate(SLOS, run(100, failed=2), HEALTHY)
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert verdicts(result)["availability"] == UNJUDGED
    assert any("at least 2,995 are needed" in reason for reason in result.reasons)


def test_too_few_requests_says_how_many_are_needed():
    result = evaluate(SLOS, run(1000), HEALTHY)
    assert result.exit_code == ExitCode.CANNOT_JUDGE
    assert verdicts(result) == {"availability": UNJUDGED, "latency": PASS}
    assert result.reasons == (
        "availability: 1,000 requests are too few to judge a 99.9% goal; at least 2,995 are "
        "needed (run longer or at a higher rate)",
    )


def test_latency_breach_proven_within_a_short_run():
    # 200 requests, 3 slower than 200 ms: 3 > the 2 allowed in 299 requests at 99%.
    result = evaluate(SLOS, run(200, slow=3), HEALTHY)
    assert result.exit_code == ExitCode.BREACH
    assert verdicts(result)["latency"] == FAIL


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
    result = evaluate(SLOS, run(3000, failed=4, status_failed=status), HEALTHY)
    assert verdicts(result)["availability"] == FAIL

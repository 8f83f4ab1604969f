"""The release statistics (slo/stats.py): verdicts on counts, against hand-computed cases."""

import json
import math

import numpy
import pytest

from slo.stats import (
    Counts,
    Judgement,
    Verdict,
    canary_verdict,
    compare_to_baseline,
    judge_rate,
    requests_to_pass,
    sprt_thresholds,
)

BUDGET = 0.001  # a 99.9% goal


def binomial_cdf(x: int, n: int, p: float) -> float:
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(x + 1))


# Counts


def test_counts_hold_bad_out_of_total():
    counts = Counts(bad=3, total=1000)
    assert (counts.good, counts.bad_share) == (997, 0.003)
    assert Counts(1, 10) + Counts(2, 20) == Counts(3, 30)
    assert Counts(0, 0).bad_share is None


@pytest.mark.parametrize(("bad", "total"), [(-1, 10), (11, 10), (0, -1)])
def test_counts_refuse_impossible_values(bad, total):
    with pytest.raises(ValueError, match="0 <= bad <= total"):
        Counts(bad, total)


def test_counts_refuse_non_integers():
    with pytest.raises(TypeError, match=r"Counts\.total must be an int"):
        Counts(0, 10.0)


# judge_rate: Wald's SPRT between budget/2 and the budget


def test_wald_thresholds_for_alpha_5_and_beta_20_percent():
    fail_at, pass_at = sprt_thresholds(0.05, 0.2)
    assert fail_at == pytest.approx(2.773, abs=1e-3)
    assert pass_at == pytest.approx(-1.558, abs=1e-3)


def test_too_few_requests_are_never_a_pass():
    # With no failure, 2,996 requests are the least that bound the rate under 0.1% at 95%.
    assert judge_rate(Counts(0, 2_996), BUDGET).verdict is Verdict.NOT_ENOUGH_DATA
    assert judge_rate(Counts(0, 0), BUDGET).verdict is Verdict.NOT_ENOUGH_DATA
    needed = requests_to_pass(0, BUDGET)
    assert needed == 3_114
    assert judge_rate(Counts(0, needed - 1), BUDGET).verdict is Verdict.NOT_ENOUGH_DATA
    assert judge_rate(Counts(0, needed), BUDGET).verdict is Verdict.PASS


@pytest.mark.parametrize("bad", [0, 1, 2, 3, 5, 10, 20])
def test_a_pass_is_evidence_that_the_rate_is_within_budget(bad):
    # A service exactly at the budget shows so few failures in that many requests rarely: at
    # most 10% of the time (5% with no failure), close to a Clopper-Pearson bound.
    n = requests_to_pass(bad, BUDGET)
    assert judge_rate(Counts(bad, n), BUDGET).verdict is Verdict.PASS
    assert judge_rate(Counts(bad, n - 1), BUDGET).verdict is Verdict.NOT_ENOUGH_DATA
    assert binomial_cdf(bad, n, BUDGET) <= (0.05 if bad == 0 else 0.10)


def test_a_burst_of_failures_fails_early():
    # 5 failures in 1,000 requests (5x the budget): log LR = 5 ln 2 - 995 x 0.0005 > 2.77.
    judgement = judge_rate(Counts(5, 1_000), BUDGET)
    assert judgement.verdict is Verdict.FAIL
    assert judgement.statistic == pytest.approx(
        5 * math.log(2) + 995 * math.log(0.999 / 0.9995), rel=1e-9
    )
    assert "favours a bad share at the 0.1% budget or above" in judgement.reason


def test_a_run_at_the_budget_is_not_a_pass():
    # 10 failures in 10,000 requests: exactly the budget, never shown to be within it.
    assert judge_rate(Counts(10, 10_000), BUDGET).verdict is not Verdict.PASS
    assert judge_rate(Counts(30, 30_000), BUDGET).verdict is Verdict.FAIL


def test_not_enough_data_says_how_many_more_requests_would_pass():
    judgement = judge_rate(Counts(1, 1_000), BUDGET)
    more = requests_to_pass(1, BUDGET) - 1_000
    assert f"at least {more:,} more requests" in judgement.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0.0}, "budget must be within"),
        ({"budget": 1.5}, "budget must be within"),
        ({"budget": BUDGET, "alpha": 0.0}, "alpha must be within"),
        ({"budget": BUDGET, "alpha": 0.6, "beta": 0.5}, "alpha \\+ beta"),
    ],
)
def test_judge_rate_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        judge_rate(Counts(0, 10), **kwargs)


# compare_to_baseline: the conditional binomial and its mixture Bayes factor


def test_a_canary_five_times_worse_fails():
    # 5% of traffic: canary 5,000 requests with 25 errors, baseline 95,000 with 95 errors.
    judgement = compare_to_baseline([(Counts(25, 5_000), Counts(95, 95_000))])
    assert judgement.verdict is Verdict.FAIL
    assert judgement.statistic >= math.log(20)
    assert "the canary is worse" in judgement.reason


def test_the_bayes_factor_is_the_mean_likelihood_ratio_over_the_ratio_grid():
    # One window, q = 1/2, 3 canary errors and 1 baseline error: by hand.
    judgement = compare_to_baseline([(Counts(3, 100), Counts(1, 100))])
    lrs = []
    for ratio in (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0):
        theta = ratio / (ratio + 1)
        lrs.append((theta / 0.5) ** 3 * ((1 - theta) / 0.5))
    assert judgement.statistic == pytest.approx(math.log(sum(lrs) / len(lrs)), rel=1e-9)


def test_no_errors_or_no_traffic_is_not_enough_data():
    for windows in ([], [(Counts(0, 5_000), Counts(0, 95_000))], [(Counts(0, 0), Counts(3, 100))]):
        judgement = compare_to_baseline(windows)
        assert judgement.verdict is Verdict.NOT_ENOUGH_DATA
        assert judgement.statistic == 0.0


def test_an_equal_canary_with_many_errors_passes():
    # 50% traffic, 0.5% errors on both sides, 20 windows of 10,000 requests each.
    windows = [(Counts(25, 5_000), Counts(25, 5_000))] * 20
    assert compare_to_baseline(windows).verdict is Verdict.PASS


def test_a_better_canary_never_fails():
    windows = [(Counts(0, 5_000), Counts(50, 5_000))] * 10
    assert compare_to_baseline(windows).verdict is not Verdict.FAIL


def test_evidence_accumulates_across_windows_with_different_shares():
    # A 3x worse canary over the 5%, 25% and 50% steps: no single window proves it, all do.
    steps = [(0.05, 10_000), (0.25, 10_000), (0.5, 10_000)]
    windows = []
    for share, total in steps:
        canary_n = int(share * total)
        baseline_n = total - canary_n
        windows.append(
            (Counts(round(canary_n * 0.003), canary_n), Counts(baseline_n // 1_000, baseline_n))
        )
    assert all(compare_to_baseline([w]).verdict is not Verdict.FAIL for w in windows)
    assert compare_to_baseline(windows).verdict is Verdict.FAIL


def test_checking_after_every_window_keeps_the_false_alarm_rate_under_alpha():
    # Anytime validity: an equal canary checked after each of 20 windows, 400 seeded runs.
    rng = numpy.random.default_rng(13)
    alarms = 0
    for _ in range(400):
        windows = []
        for canary_bad, baseline_bad in zip(
            rng.binomial(100, 0.01, 20), rng.binomial(300, 0.01, 20), strict=True
        ):
            canary, baseline = Counts(int(canary_bad), 100), Counts(int(baseline_bad), 300)
            windows.append((canary, baseline))
            if compare_to_baseline(windows).verdict is Verdict.FAIL:
                alarms += 1
                break
    assert alarms / 400 <= 0.05


def test_windows_must_be_pairs_of_counts():
    with pytest.raises(TypeError, match=r"windows\[1\] must be a \(canary, baseline\) pair"):
        compare_to_baseline([(Counts(0, 1), Counts(0, 1)), (3, 100)])


def test_windows_with_the_same_share_add_up_exactly():
    windows = [(Counts(3, 500), Counts(7, 9_500)), (Counts(1, 500), Counts(2, 9_500))]
    merged = [(Counts(4, 1_000), Counts(9, 19_000))]
    assert compare_to_baseline(windows).statistic == pytest.approx(
        compare_to_baseline(merged).statistic, rel=1e-12
    )


# canary_verdict: the release's rule for one SLO


def test_the_canary_fails_when_either_test_fails_and_passes_on_its_own_rate():
    within = judge_rate(Counts(0, 10_000), BUDGET)
    breaking = judge_rate(Counts(30, 10_000), BUDGET)
    unknown = judge_rate(Counts(0, 100), BUDGET)
    worse = compare_to_baseline([(Counts(25, 5_000), Counts(95, 95_000))])
    too_few = compare_to_baseline([(Counts(0, 5_000), Counts(1, 95_000))])
    assert canary_verdict(within, too_few) is Verdict.PASS
    assert canary_verdict(within, worse) is Verdict.FAIL
    assert canary_verdict(breaking, too_few) is Verdict.FAIL
    assert canary_verdict(unknown, too_few) is Verdict.NOT_ENOUGH_DATA


# Judgement


def test_judgements_serialise_to_strict_json():
    for judgement in (
        judge_rate(Counts(0, 10), BUDGET),
        compare_to_baseline([(Counts(400, 400), Counts(0, 100_000))]),
    ):
        assert isinstance(judgement, Judgement)
        text = json.dumps(judgement.as_dict(), allow_nan=False)
        data = json.loads(text)
        assert data["verdict"] == judgement.verdict.value
        assert set(data) >= {"verdict", "statistic", "thresholds", "reason"}


def test_verdicts_are_strings():
    assert Verdict.NOT_ENOUGH_DATA == "NOT ENOUGH DATA"
    assert Verdict("PASS") is Verdict.PASS

"""The statistics that judge a release: one module for the load gate and for the canary.

Both questions are asked of counts (bad events out of total events), so that the load gate and
the canary judge a run near the budget in the same way. A latency SLI is a count too: the share
of requests slower than the threshold.

`judge_rate`: is a bad fraction within the allowed bad fraction (the error budget, 1 - goal)?
    Wald's sequential probability ratio test for a Bernoulli rate (A. Wald, "Sequential tests of
    statistical hypotheses", Ann. Math. Statist. 16(2), 1945) between
      H0 (good): p = p0 = budget / 2, a service that spends half its budget, and
      H1 (bad):  p = p1 = budget, a service that spends all of it.
    log LR = x ln(p1/p0) + (n - x) ln((1 - p1)/(1 - p0)); FAIL when log LR >= ln((1 - beta)/alpha),
    PASS when log LR <= ln(beta/(1 - alpha)) (alpha = 0.05, beta = 0.2: +2.77 and -1.56), else
    NOT ENOUGH DATA. The test is sequential, so it stays valid when called after every window:
    the likelihood ratio is a martingale under H0 and Ville's inequality bounds the chance it ever
    crosses the FAIL line by alpha / (1 - beta) (Wald's own bound; the usual figure is ~alpha).
    Why these p0/p1: with zero failures, PASS needs
    n >= ln((1 - alpha)/beta) / -ln((1 - p1)/(1 - p0)) = 3,114 requests for a 0.1% budget, more
    than the 2,996 at which the one-sided 95% upper bound on the rate (1 - alpha**(1/n)) first
    reaches the budget; with x failures PASS needs as many requests as a Clopper-Pearson upper
    bound at between 90% and 95%. So PASS means "shown to be within budget", and a rate right at
    the budget passes with probability at most about beta. Between p0 and p1 either verdict can
    take long; a long run settles on PASS below budget / (2 ln 2), about 72% of the budget (where
    the log LR stops drifting), and on FAIL above it.

`compare_to_baseline`: is the canary worse than the baseline revision, window by window?
    Given m = x_c + x_b bad events in a window whose requests went to the canary with share q,
    under H0 (equal rates) x_c ~ Binomial(m, q) whatever the common rate (the reduction of
    Lindon & Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022, used by
    Netflix's "Sequential A/B testing keeps the world streaming"). With fixed request totals the
    exact conditional law is hypergeometric, which is less spread than the binomial (Hoeffding,
    "Probability inequalities for sums of bounded random variables", JASA 1963, Theorem 4), so
    the binomial likelihood ratio below is a supermartingale under H0 and stays valid.
    Under H1 the canary's rate is r times the baseline's, r > 1, the same r in every window, so
    its share of the bad events is theta = r q / (r q + 1 - q). The Bayes factor mixes the
    likelihood ratio over a prior on r (equal weights on RATIO_GRID, a discrete version of
    Robbins' mixture, "Statistical methods related to the law of the iterated logarithm",
    Ann. Math. Statist. 41(5), 1970): a test martingale under H0, so by Ville's inequality
    P(BF ever >= 1/alpha) <= alpha. FAIL when BF >= 1/alpha, checked after every window.
    PASS ("no worse, and we would have seen it"): not FAIL, and the bad events seen so far are
    enough that a canary MARGIN (2x) worse would have been detected with probability about
    1 - beta: the expected log likelihood ratio of r = MARGIN over the windows seen, minus
    z(1 - beta) of its standard deviation, reaches the FAIL line (a normal approximation).
    Few bad events give NOT ENOUGH DATA, never PASS: when the service almost never fails, the
    comparison cannot tell, and the canary's absolute rate (`judge_rate`) is what can pass it.
    Windows with the same traffic share add up: one window of their summed counts gives the
    same statistic, exactly.

`canary_verdict`: the release's rule for one SLO at a step, from the two judgements: FAIL when
    either fails (the canary breaks the SLO, or is worse than the baseline); PASS when the canary
    is shown within budget and not shown worse; NOT ENOUGH DATA otherwise. The comparison alone
    never passes a canary (it needs many bad events); it catches one that is worse than the
    baseline before that one breaks the SLO. benchmarks/canary_simulation.py measures the rule.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

DEFAULT_ALPHA = 0.05
DEFAULT_BETA = 0.2
# The H0 rate of judge_rate as a share of the budget (H1 is the budget itself).
GOOD_SHARE_OF_BUDGET = 0.5
# The alternatives of compare_to_baseline: the canary's rate as a multiple of the baseline's.
RATIO_GRID = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
# compare_to_baseline passes once a canary this many times worse would have been detected.
MARGIN = 2.0
_Z_POWER = NormalDist().inv_cdf(1 - DEFAULT_BETA)  # detected with probability about 1 - beta


class Verdict(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_ENOUGH_DATA = "NOT ENOUGH DATA"


@dataclass(frozen=True)
class Counts:
    """Bad events out of total events (failed requests, or requests slower than a threshold)."""

    bad: int
    total: int

    def __post_init__(self) -> None:
        for name in ("bad", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Counts.{name} must be an int, got {value!r}")
        if not 0 <= self.bad <= self.total:
            raise ValueError(
                f"Counts need 0 <= bad <= total, got bad={self.bad}, total={self.total}"
            )

    @property
    def good(self) -> int:
        return self.total - self.bad

    @property
    def bad_share(self) -> float | None:
        return self.bad / self.total if self.total else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.bad + other.bad, self.total + other.total)


@dataclass(frozen=True)
class Judgement:
    """A verdict with its evidence: the statistic, the thresholds it was compared with, why."""

    verdict: Verdict
    statistic: float
    thresholds: dict[str, float]
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (no infinities or NaNs: those become None)."""
        return {
            "verdict": self.verdict.value,
            "statistic": _finite(self.statistic),
            "thresholds": {key: _finite(value) for key, value in self.thresholds.items()},
            "reason": self.reason,
            "evidence": {key: _finite(value) for key, value in self.evidence.items()},
        }


def judge_rate(
    counts: Counts, budget: float, *, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA
) -> Judgement:
    """Wald's SPRT of a bad fraction against the allowed bad fraction `budget` (module docstring).

    The statistic is the log likelihood ratio of p1 = budget against p0 = budget / 2.
    """
    _check_share("budget", budget)
    _check_error_rates(alpha, beta)
    p0, p1 = budget * GOOD_SHARE_OF_BUDGET, budget
    fail_at, pass_at = sprt_thresholds(alpha, beta)
    llr = (
        counts.bad * math.log(p1 / p0)
        + counts.good * math.log1p(-p1)
        - counts.good * math.log1p(-p0)
    )
    thresholds = {"fail_at": fail_at, "pass_at": pass_at, "p0": p0, "p1": p1}
    evidence = {"bad": counts.bad, "total": counts.total, "bad_share": counts.bad_share}
    seen = f"{counts.bad:,} bad of {counts.total:,}"
    if llr >= fail_at:
        verdict = Verdict.FAIL
        reason = (
            f"{seen}: the data favours a bad share at the {_percent(budget)} budget or above "
            f"over half of it (log likelihood ratio {llr:.2f} >= {fail_at:.2f})"
        )
    elif llr <= pass_at:
        verdict = Verdict.PASS
        reason = (
            f"{seen}: within the {_percent(budget)} budget, the data favours half of it over "
            f"all of it (log likelihood ratio {llr:.2f} <= {pass_at:.2f})"
        )
    else:
        verdict = Verdict.NOT_ENOUGH_DATA
        more = requests_to_pass(counts.bad, budget, alpha=alpha, beta=beta) - counts.total
        reason = (
            f"{seen}: not enough evidence either way against the {_percent(budget)} budget "
            f"(log likelihood ratio {llr:.2f} between {pass_at:.2f} and {fail_at:.2f}); "
            f"at least {more:,} more requests without a bad one are needed to pass"
        )
    return Judgement(verdict, llr, thresholds, reason, evidence)


def requests_to_pass(
    bad: int, budget: float, *, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA
) -> int:
    """The fewest requests with `bad` bad ones that `judge_rate` passes (3,114 for 0 in 0.1%)."""
    _check_share("budget", budget)
    _check_error_rates(alpha, beta)
    p0, p1 = budget * GOOD_SHARE_OF_BUDGET, budget
    _, pass_at = sprt_thresholds(alpha, beta)
    per_good = math.log1p(-p1) - math.log1p(-p0)  # < 0: each good request moves towards PASS
    per_bad = math.log(p1 / p0)
    good = math.ceil((pass_at - bad * per_bad) / per_good - 1e-9)
    return bad + max(good, 0)


def sprt_thresholds(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's decision lines on the log likelihood ratio: (FAIL at or above, PASS at or below)."""
    _check_error_rates(alpha, beta)
    return math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))


def compare_to_baseline(
    windows: Sequence[tuple[Counts, Counts]], *, alpha: float = DEFAULT_ALPHA
) -> Judgement:
    """Anytime-valid comparison of the canary with the baseline over windows (module docstring).

    `windows` holds one (canary, baseline) pair of Counts per finished window, each window with
    its own traffic share. The statistic is the log Bayes factor; FAIL at log(1/alpha).
    """
    _check_error_rates(alpha, DEFAULT_BETA)
    for index, pair in enumerate(windows):
        if (
            not isinstance(pair, tuple | list)
            or len(pair) != 2
            or not all(isinstance(counts, Counts) for counts in pair)
        ):
            raise TypeError(f"windows[{index}] must be a (canary, baseline) pair of Counts")
    informative = [_Window.of(canary, baseline) for canary, baseline in windows]
    informative = [window for window in informative if window is not None]
    log_bf = _log_mixture(
        [sum(window.log_lr(ratio) for window in informative) for ratio in RATIO_GRID]
    )
    fail_at = math.log(1 / alpha)
    power_line, power = _power_to_detect(informative, MARGIN, fail_at)
    canary = sum((c for c, _ in windows), Counts(0, 0))
    baseline = sum((b for _, b in windows), Counts(0, 0))
    thresholds = {"fail_at": fail_at, "margin": MARGIN, "power_needed": power_line}
    evidence = {
        "canary_bad": canary.bad,
        "canary_total": canary.total,
        "baseline_bad": baseline.bad,
        "baseline_total": baseline.total,
        "bayes_factor": math.exp(min(log_bf, 700.0)),
        "power_evidence": power,
        "windows": len(windows),
    }
    seen = (
        f"canary {canary.bad:,} bad of {canary.total:,}, "
        f"baseline {baseline.bad:,} bad of {baseline.total:,}"
    )
    if log_bf >= fail_at:
        verdict = Verdict.FAIL
        reason = (
            f"{seen}: the canary is worse "
            f"(Bayes factor {evidence['bayes_factor']:.3g} >= {1 / alpha:g})"
        )
    elif power >= power_line:
        verdict = Verdict.PASS
        reason = (
            f"{seen}: no worse than the baseline (Bayes factor {math.exp(log_bf):.3g}), with "
            f"enough bad events that a {MARGIN:g}x worse canary would have been detected"
        )
    else:
        verdict = Verdict.NOT_ENOUGH_DATA
        reason = (
            f"{seen}: too few bad events to compare (Bayes factor {math.exp(log_bf):.3g}; a "
            f"{MARGIN:g}x worse canary would not yet have been detected)"
        )
    return Judgement(verdict, log_bf, thresholds, reason, evidence)


def canary_verdict(rate: Judgement, comparison: Judgement) -> Verdict:
    """One SLO's verdict at a canary step: judge_rate of the canary, compare_to_baseline."""
    if Verdict.FAIL in (rate.verdict, comparison.verdict):
        return Verdict.FAIL
    return rate.verdict


@dataclass(frozen=True)
class _Window:
    canary_bad: int
    baseline_bad: int
    share: float  # the canary's share of the window's requests

    @classmethod
    def of(cls, canary: Counts, baseline: Counts) -> _Window | None:
        """The window's conditional data, or None when it says nothing about the difference."""
        if canary.total == 0 or baseline.total == 0 or canary.bad + baseline.bad == 0:
            return None
        return cls(canary.bad, baseline.bad, canary.total / (canary.total + baseline.total))

    def theta(self, ratio: float) -> float:
        return ratio * self.share / (ratio * self.share + 1 - self.share)

    def log_lr(self, ratio: float) -> float:
        theta, q = self.theta(ratio), self.share
        return self.canary_bad * math.log(theta / q) + self.baseline_bad * math.log(
            (1 - theta) / (1 - q)
        )


def _power_to_detect(
    windows: Sequence[_Window], ratio: float, fail_at: float
) -> tuple[float, float]:
    """(line, evidence): the expected log LR of `ratio` less z(1-beta) sd, and where it must reach.

    The line is the FAIL line corrected for the mixture weight of `ratio` (the mixture is at
    least weight x LR(ratio)), so reaching it means a canary `ratio` times worse would have
    crossed the FAIL line with probability about 1 - beta.
    """
    line = fail_at + math.log(len(RATIO_GRID))
    mean = variance = 0.0
    for window in windows:
        m, q, theta = window.canary_bad + window.baseline_bad, window.share, window.theta(ratio)
        up, down = math.log(theta / q), math.log((1 - theta) / (1 - q))
        mean += m * (theta * up + (1 - theta) * down)
        variance += m * theta * (1 - theta) * (up - down) ** 2
    return line, mean - _Z_POWER * math.sqrt(variance)


def _log_mixture(log_values: Sequence[float]) -> float:
    """log(mean(exp(v))) without overflow."""
    top = max(log_values)
    return top + math.log(sum(math.exp(v - top) for v in log_values) / len(log_values))


def _check_share(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be within (0, 1), got {value!r}")


def _check_error_rates(alpha: float, beta: float) -> None:
    _check_share("alpha", alpha)
    _check_share("beta", beta)
    if alpha + beta >= 1:
        raise ValueError(f"alpha + beta must be below 1, got {alpha} + {beta}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _percent(share: float) -> str:
    return f"{share * 100:.3f}".rstrip("0").rstrip(".") + "%"

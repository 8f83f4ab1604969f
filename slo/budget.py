"""Error-budget arithmetic, written once for the load-test gate and for monitoring.

Definitions (Google SRE workbook, "Implementing SLOs" and "Alerting on SLOs"):
- error budget = 1 - goal (the share of events allowed to be bad);
- burn rate = observed bad share / error budget (1 spends the budget exactly over the window);
- burn-rate alert threshold = budget share x SLO window / alert long window.
"""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction

DEFAULT_CONFIDENCE = 0.95


def error_budget(goal: float) -> float:
    """The share of events allowed to be bad: 1 - goal."""
    _check_goal(goal)
    return 1.0 - goal


def burn_rate(bad_share: float, goal: float) -> float:
    """How fast a bad share spends the budget: 1.0 spends exactly the budget over the window."""
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"bad_share must be within [0, 1], got {bad_share}")
    return bad_share / error_budget(goal)


def burn_rate_threshold(
    budget_share: float, slo_window: timedelta, long_window: timedelta
) -> float:
    """The burn rate that spends `budget_share` of the budget within `long_window`.

    Example: 2% of a 30-day budget in 1 hour is 0.02 x 720 h / 1 h = 14.4.
    """
    if not 0.0 < budget_share <= 1.0:
        raise ValueError(f"budget_share must be within (0, 1], got {budget_share}")
    if long_window <= timedelta(0) or long_window > slo_window:
        raise ValueError(f"long_window {long_window} must be positive and within {slo_window}")
    return budget_share * (slo_window / long_window)


def requests_needed(goal: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """How many requests a run needs before it can show that the goal is met.

    The smallest n such that a run of n requests with no bad one rules out, at `confidence`,
    a true bad share above the budget: goal**n <= 1 - confidence (for 95% this is the "rule of
    three", n ~ 3 / budget). 99.9% needs 2,995 requests; 99% needs 299.
    """
    _check_goal(goal)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    n = math.ceil(math.log1p(-confidence) / math.log(goal))
    while goal ** (n - 1) <= 1.0 - confidence:  # guard against rounding in the logarithms
        n -= 1
    return max(n, 1)


def allowed_bad(goal: float, total: int) -> int:
    """The most bad events out of `total` that still meet the goal, computed exactly.

    Exact decimal arithmetic, so that 1 bad request in 1,000 meets 99.9% (float 1 - 0.999 is
    0.0010000000000000009 and would make the boundary depend on rounding).
    """
    _check_goal(goal)
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    budget = 1 - Fraction(repr(goal))
    return math.floor(budget * total)


def _check_goal(goal: float) -> None:
    if isinstance(goal, bool) or not 0.0 < goal < 1.0:
        raise ValueError(f"goal must be within (0, 1), got {goal!r}")

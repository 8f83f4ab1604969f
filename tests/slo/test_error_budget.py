"""The error-budget arithmetic against hand-computed cases."""

from datetime import timedelta

import pytest

import slo
from slo import budget

THIRTY_DAYS = timedelta(days=30)
TWENTY_EIGHT_DAYS = timedelta(days=28)


def test_error_budget_is_one_minus_goal():
    assert budget.error_budget(0.999) == pytest.approx(0.001)
    assert budget.error_budget(0.99) == pytest.approx(0.01)


def test_burn_rate_is_bad_share_over_budget():
    # 0.5% bad against a 0.1% budget spends it five times too fast.
    assert budget.burn_rate(0.005, 0.999) == pytest.approx(5.0)
    # Exactly the budget: burn rate 1, the budget lasts exactly the window.
    assert budget.burn_rate(0.01, 0.99) == pytest.approx(1.0)
    assert budget.burn_rate(0.0, 0.99) == 0.0


@pytest.mark.parametrize(
    ("share", "long_window", "expected"),
    [
        (0.02, timedelta(hours=1), 14.4),  # 0.02 x 720 h / 1 h
        (0.05, timedelta(hours=6), 6.0),  # 0.05 x 720 h / 6 h
        (0.10, timedelta(days=1), 3.0),  # 0.10 x 720 h / 24 h
        (0.10, timedelta(days=3), 1.0),  # 0.10 x 720 h / 72 h
    ],
)
def test_sre_workbook_thresholds_for_a_30_day_window(share, long_window, expected):
    assert budget.burn_rate_threshold(share, THIRTY_DAYS, long_window) == pytest.approx(expected)


def test_thresholds_for_a_28_day_window():
    # 2% of a 28-day budget in 1 h: 0.02 x 672 h / 1 h = 13.44; 5% in 6 h: 0.05 x 672 / 6 = 5.6.
    assert budget.burn_rate_threshold(0.02, TWENTY_EIGHT_DAYS, timedelta(hours=1)) == (
        pytest.approx(13.44)
    )
    assert budget.burn_rate_threshold(0.05, TWENTY_EIGHT_DAYS, timedelta(hours=6)) == (
        pytest.approx(5.6)
    )


def test_committed_alert_windows_give_14_4_6_3_1():
    windows = slo.load_alert_windows()
    thresholds = [w.burn_rate_threshold(30) for w in windows]
    assert thresholds == pytest.approx([14.4, 6.0, 3.0, 1.0])
    assert [w.severity for w in windows] == ["page", "page", "ticket", "ticket"]
    assert windows[0].long_window == timedelta(hours=1)
    assert windows[0].short_window == timedelta(minutes=5)


def test_requests_needed_follows_the_rule_of_three():
    # 0.999 ** 2995 = 0.04998 <= 0.05 < 0.999 ** 2994 = 0.05003
    assert budget.requests_needed(0.999) == 2995
    # 0.99 ** 299 = 0.0495 <= 0.05 < 0.99 ** 298 = 0.0500
    assert budget.requests_needed(0.99) == 299
    # A stricter confidence needs more: 0.999 ** n <= 0.01 -> n = 4603.
    assert budget.requests_needed(0.999, confidence=0.99) == 4603


def test_allowed_bad_is_exact_at_the_boundary():
    # 1 bad in 1,000 is exactly 99.9%: still met (float 1 - 0.999 would say otherwise).
    assert budget.allowed_bad(0.999, 1000) == 1
    assert budget.allowed_bad(0.999, 999) == 0
    assert budget.allowed_bad(0.99, 12_345) == 123
    assert budget.allowed_bad(0.95, 0) == 0


@pytest.mark.parametrize("goal", [0.0, 1.0, 1.5, -0.1, True])
def test_goals_outside_zero_one_are_rejected(goal):
    with pytest.raises(ValueError, match="goal"):
        budget.error_budget(goal)


def test_long_window_longer_than_the_slo_window_is_rejected():
    with pytest.raises(ValueError, match="long_window"):
        budget.burn_rate_threshold(0.1, THIRTY_DAYS, timedelta(days=31))

"""Deadlines, retries and the circuit breaker, on a fake clock (no sleeping, no network)."""

from __future__ import annotations

import logging
import random
import threading

import pytest

from service.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    FailureKind,
    ResilientCaller,
    RetryBudget,
    RetryPolicy,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Failure(Exception):
    def __init__(self, kind: FailureKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


def classify(error: BaseException) -> FailureKind:
    return error.kind if isinstance(error, Failure) else FailureKind.BAD_RESPONSE


def make_caller(clock: FakeClock, retries: int = 2, threshold: int = 100, timeout: float = 1.0):
    breaker = CircuitBreaker("test", failure_threshold=threshold, reset_timeout=10.0, clock=clock)
    policy = RetryPolicy(retries=retries, base_delay=0.05, max_delay=1.0)
    return ResilientCaller(breaker, policy, timeout, classify, sleep=clock.sleep, clock=clock)


def scripted(clock: FakeClock, outcomes: list[object], cost: float = 0.0):
    """An attempt that plays `outcomes` in turn (exceptions raise), taking `cost` seconds or
    its timeout, whichever is shorter, as a real call would."""
    timeouts: list[float] = []

    def attempt(timeout: float) -> object:
        timeouts.append(timeout)
        clock.now += min(cost, timeout)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return attempt, timeouts


def test_each_attempt_gets_the_call_timeout_capped_by_the_time_left():
    clock = FakeClock()
    caller = make_caller(clock, timeout=1.0)
    attempt, timeouts = scripted(clock, [Failure(FailureKind.UNAVAILABLE), "ok"], cost=0.4)
    assert caller.call(attempt, deadline=clock.now + 1.2) == "ok"
    assert timeouts[0] == pytest.approx(1.0)
    assert timeouts[1] == pytest.approx(1.2 - 0.4 - clock.sleeps[0])


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        (FailureKind.UNAVAILABLE, UpstreamUnavailable),
        (FailureKind.OVERLOADED, UpstreamUnavailable),
        (FailureKind.TIMEOUT, UpstreamTimeout),
    ],
)
def test_retryable_failures_are_retried_exactly_retries_times(kind, error_type):
    clock = FakeClock()
    caller = make_caller(clock, retries=2)
    attempt, timeouts = scripted(clock, [Failure(kind)] * 5)
    with pytest.raises(error_type) as raised:
        caller.call(attempt, deadline=clock.now + 60)
    assert len(timeouts) == 3
    assert raised.value.attempts == 3


@pytest.mark.parametrize("kind", [FailureKind.BAD_RESPONSE, FailureKind.REJECTED])
def test_other_failures_are_not_retried_and_answer_502(kind):
    clock = FakeClock()
    caller = make_caller(clock)
    attempt, timeouts = scripted(clock, [Failure(kind), "never"])
    with pytest.raises(UpstreamBadResponse) as raised:
        caller.call(attempt, deadline=clock.now + 60)
    assert len(timeouts) == 1
    assert raised.value.status == 502


def test_unknown_exceptions_count_as_bad_responses():
    clock = FakeClock()
    attempt, _ = scripted(clock, [KeyError("predictions")])
    with pytest.raises(UpstreamBadResponse, match="KeyError") as raised:
        make_caller(clock).call(attempt, deadline=clock.now + 60)
    assert "KeyError" in raised.value.detail  # for the logs
    assert "KeyError" not in raised.value.message  # the client's message stays generic


def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = RetryPolicy(retries=5, base_delay=0.1, max_delay=0.5)
    rng = random.Random(7)
    for retry_number, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (5, 0.5)]:
        samples = [policy.backoff(retry_number, rng) for _ in range(200)]
        assert min(samples) >= 0.0 and max(samples) <= cap
        assert max(samples) > 0.8 * cap  # spread over the whole range, not a fixed delay


@pytest.mark.parametrize(
    ("kind", "error_type", "call_timeout"),
    [
        (FailureKind.UNAVAILABLE, UpstreamUnavailable, 5.0),  # fast failures: backoff-bound
        (FailureKind.TIMEOUT, UpstreamTimeout, 0.3),  # slow failures: timeout-bound
    ],
)
def test_retries_stop_at_the_deadline_and_never_outlive_it(kind, error_type, call_timeout):
    clock = FakeClock()
    caller = make_caller(clock, retries=10, timeout=call_timeout)
    attempt, timeouts = scripted(clock, [Failure(kind)] * 20, cost=0.2)
    deadline = clock.now + 1.0
    with pytest.raises(error_type):
        caller.call(attempt, deadline=deadline)
    assert clock.now <= deadline + 1e-9
    assert len(timeouts) < 10  # the deadline, not the retry budget, ended it
    assert all(timeout <= call_timeout for timeout in timeouts)


def test_no_attempt_once_the_deadline_has_passed():
    clock = FakeClock()
    attempt, timeouts = scripted(clock, ["ok"])
    with pytest.raises(UpstreamTimeout):
        make_caller(clock).call(attempt, deadline=clock.now - 0.1)
    assert timeouts == []


def test_breaker_opens_after_consecutive_failures_and_fails_fast(caplog):
    clock = FakeClock()
    caller = make_caller(clock, retries=0, threshold=3)
    attempt, timeouts = scripted(clock, [Failure(FailureKind.UNAVAILABLE)] * 3 + ["ok"])
    with caplog.at_level(logging.INFO, logger="service.resilience"):
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable):
                caller.call(attempt, deadline=clock.now + 5)
        with pytest.raises(CircuitOpen) as raised:
            caller.call(attempt, deadline=clock.now + 5)
    assert caller.breaker.state is BreakerState.OPEN
    assert len(timeouts) == 3  # the fourth call never went out
    assert raised.value.status == 503 and raised.value.retry_after == 10
    opened = [r for r in caplog.records if "opened" in r.getMessage()]
    assert len(opened) == 1 and opened[0].levelno == logging.WARNING


def test_breaker_half_opens_after_the_reset_timeout_and_one_success_closes_it(caplog):
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=10.0, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 4
    assert breaker.retry_after() == 6
    clock.now += 6
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the single trial call
    assert not breaker.allow()  # everyone else still fails fast
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="service.resilience"):
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert [r.getMessage() for r in caplog.records] == ["circuit breaker b closed"]


def test_a_failed_trial_opens_the_breaker_for_another_reset_timeout():
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=2, reset_timeout=10.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 10
    assert breaker.allow()


def test_a_trial_that_never_reports_back_is_replaced_after_the_reset_timeout():
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=10.0, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    clock.now += 10
    assert breaker.allow()


def test_rejections_do_not_open_the_breaker():
    clock = FakeClock()
    caller = make_caller(clock, threshold=1)
    attempt, _ = scripted(clock, [Failure(FailureKind.REJECTED), "ok"])
    with pytest.raises(UpstreamBadResponse):
        caller.call(attempt, deadline=clock.now + 5)
    assert caller.breaker.state is BreakerState.CLOSED
    assert caller.call(attempt, deadline=clock.now + 5) == "ok"


def test_only_one_of_many_threads_gets_the_half_open_trial():
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1
    barrier = threading.Barrier(16)
    allowed: list[bool] = []

    def contender() -> None:
        barrier.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=contender) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


def test_the_retry_budget_allows_a_share_of_the_calls_in_its_window():
    clock = FakeClock()
    budget = RetryBudget(ratio=0.1, window=10.0, minimum=2, clock=clock)
    assert [budget.try_retry() for _ in range(3)] == [True, True, False]  # the floor: 2
    for _ in range(100):
        budget.record_call()
    allowed = sum(budget.try_retry() for _ in range(20))
    assert allowed == 10 - 2  # 10% of 100 calls, the two above included
    assert budget.counts() == (100, 10) and budget.refused == 1 + 12


def test_the_retry_budget_window_slides():
    clock = FakeClock()
    budget = RetryBudget(ratio=0.1, window=10.0, minimum=1, clock=clock)
    for _ in range(50):
        budget.record_call()
    assert sum(budget.try_retry() for _ in range(10)) == 5
    clock.now += 10.0  # every bucket of that second has left the window
    assert budget.counts() == (0, 0)
    assert budget.try_retry() is True and budget.try_retry() is False  # the floor again


def test_an_exhausted_budget_fails_the_request_with_its_error_instead_of_retrying():
    clock = FakeClock()
    caller = make_caller(clock, retries=2)
    caller.budget = RetryBudget(ratio=0.1, minimum=0, clock=clock)
    attempt, timeouts = scripted(clock, [Failure(FailureKind.UNAVAILABLE)] * 3)
    with pytest.raises(UpstreamUnavailable) as raised:
        caller.call(attempt, deadline=clock() + 5.0)
    assert len(timeouts) == 1 and raised.value.attempts == 1
    assert caller.budget.counts() == (1, 0)


def test_under_an_outage_upstream_calls_stay_within_the_budget():
    """1,000 requests against a dependency that always fails: without a budget they would
    make 3,000 calls; with it, retries stay at 10% of the first attempts."""
    clock = FakeClock()
    caller = make_caller(clock, retries=2)
    caller.budget = RetryBudget(ratio=0.1, minimum=10, clock=clock)
    calls = 0

    def attempt(timeout: float) -> object:
        nonlocal calls
        calls += 1
        raise Failure(FailureKind.UNAVAILABLE)

    for _ in range(1000):
        clock.now += 0.005  # 200 requests per second
        with pytest.raises(UpstreamUnavailable):
            caller.call(attempt, deadline=clock() + 5.0)
    first_attempts = 1000
    assert calls - first_attempts <= 0.1 * first_attempts + 10

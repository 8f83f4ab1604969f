"""Calling a remote dependency within a deadline: timeouts, retries, a circuit breaker.

One request gets one overall deadline (a `time.monotonic()` instant). Each attempt gets
`min(per-call timeout, time left)`, retries happen only on failures that another attempt can fix
(unavailable, overloaded, timed out), with exponential backoff and full jitter, and never start
when the deadline would pass during the backoff. A retry budget, shared by every request of the
worker, caps retries at a share of the calls made over a sliding window, so that an outage
cannot multiply the load on the dependency by the retry count. A circuit breaker, shared too,
turns a dead dependency into fast 503s instead of a queue of requests each waiting for its
timeout.

The module knows nothing about Vertex AI: the caller classifies its own exceptions into a
`FailureKind`.
"""

from __future__ import annotations

import collections
import enum
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

# An attempt with less time than this left would fail by its own timeout: do not start it.
MIN_ATTEMPT_SECONDS = 0.005


class FailureKind(enum.Enum):
    """What went wrong with one attempt, which decides retry, breaker and status."""

    UNAVAILABLE = "unavailable"  # UNAVAILABLE, HTTP 503, connection refused or reset
    OVERLOADED = "overloaded"  # RESOURCE_EXHAUSTED, HTTP 429
    TIMEOUT = "timeout"  # DEADLINE_EXCEEDED, HTTP 504, the per-call timeout fired
    BAD_RESPONSE = "bad_response"  # INTERNAL, HTTP 500, a body that does not parse or fit
    REJECTED = "rejected"  # other 4xx: our request or credentials are wrong

    @property
    def retryable(self) -> bool:
        return self in (FailureKind.UNAVAILABLE, FailureKind.OVERLOADED, FailureKind.TIMEOUT)

    @property
    def counts_against_breaker(self) -> bool:
        # A rejection is fast and says nothing about the dependency's health.
        return self is not FailureKind.REJECTED


class UpstreamFailure(Exception):
    """The dependency did not give a usable answer; `status` and `code` are the HTTP mapping.

    `message` is fit for the client; `detail` (the dependency's own error) is for the logs.
    """

    status = 502
    code = "UPSTREAM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 0,
        retry_after: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.attempts = attempts
        self.retry_after = retry_after
        self.detail = detail


class UpstreamUnavailable(UpstreamFailure):
    status = 503
    code = "UPSTREAM_UNAVAILABLE"


class CircuitOpen(UpstreamUnavailable):
    code = "CIRCUIT_OPEN"


class UpstreamTimeout(UpstreamFailure):
    status = 504
    code = "UPSTREAM_TIMEOUT"


class UpstreamBadResponse(UpstreamFailure):
    status = 502
    code = "UPSTREAM_ERROR"


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first, spaced by exponential backoff with full jitter."""

    retries: int = 2
    base_delay: float = 0.05
    max_delay: float = 1.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry `retry_number` (1-based): uniform in [0, cap]."""
        cap = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return (rng or random).uniform(0.0, cap)


class RetryBudget:
    """Retries allowed over the last `window` seconds: at most `ratio` x the first attempts
    made in that window, and never fewer than `minimum` (so that a quiet instance can still
    retry a blip). The shape of Finagle's RetryBudget and of gRPC's retry throttling
    (gRFC A6): retries that would exceed the budget are not made, and the request fails with
    the error it had. Counted in one-second buckets; safe to share between threads.
    """

    def __init__(
        self,
        ratio: float = 0.1,
        window: float = 10.0,
        minimum: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or window < 1 or minimum < 0:
            raise ValueError("ratio must be >= 0, window >= 1 s and minimum >= 0")
        self.ratio = ratio
        self.window = window
        self.minimum = minimum
        self._clock = clock
        self._lock = threading.Lock()
        # (second, first attempts, retries), oldest first
        self._buckets: collections.deque[list[int]] = collections.deque()
        self.refused = 0  # retries not made for want of budget, since start

    def _bucket(self) -> list[int]:
        second = int(self._clock())
        while self._buckets and self._buckets[0][0] <= second - self.window:
            self._buckets.popleft()
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]

    def record_call(self) -> None:
        """A request's first attempt."""
        with self._lock:
            self._bucket()[1] += 1

    def try_retry(self) -> bool:
        """Claim one retry if the window's budget allows it."""
        with self._lock:
            bucket = self._bucket()
            calls = sum(b[1] for b in self._buckets)
            retries = sum(b[2] for b in self._buckets)
            if retries + 1 > max(self.minimum, self.ratio * calls):
                self.refused += 1
                return False
            bucket[2] += 1
            return True

    def counts(self) -> tuple[int, int]:
        """(first attempts, retries) in the current window."""
        with self._lock:
            self._bucket()
            return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker, safe to share between threads.

    closed: every call goes through; `failure_threshold` consecutive failures open it.
    open: calls are refused until `reset_timeout` has passed, then it is half-open.
    half-open: one trial call goes through (others are refused); its success closes the
    breaker, its failure opens it again. A trial that never reports back (a caller bug) is
    replaced by another after `reset_timeout`, so the breaker cannot stick half-open.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open state, claims the single trial)."""
        with self._lock:
            state = self._current_state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.OPEN:
                return False
            now = self._clock()
            trial = self._trial_started_at
            if trial is not None and now - trial < self.reset_timeout:
                return False
            self._state = BreakerState.HALF_OPEN
            self._trial_started_at = now
            return True

    def retry_after(self) -> int:
        """Whole seconds until the breaker lets a trial call through (at least 1)."""
        with self._lock:
            left = self._opened_at + self.reset_timeout - self._clock()
        return max(1, math.ceil(left))

    def record_success(self) -> None:
        with self._lock:
            was = self._state
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_started_at = None
        if was is not BreakerState.CLOSED:
            logger.info(
                "circuit breaker %s closed",
                self.name,
                extra={"json_fields": {"circuit_breaker": {"name": self.name, "state": "closed"}}},
            )

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            reopen = self._state is BreakerState.HALF_OPEN
            opening = reopen or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            )
            if opening:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._trial_started_at = None
            failures = self._failures
        if opening:
            logger.warning(
                "circuit breaker %s opened after %d consecutive failures; retrying in %.1f s",
                self.name,
                failures,
                self.reset_timeout,
                extra={
                    "json_fields": {
                        "circuit_breaker": {
                            "name": self.name,
                            "state": "open",
                            "consecutive_failures": failures,
                            "reset_timeout_s": self.reset_timeout,
                            "trial_failed": reopen,
                        }
                    }
                },
            )


class ResilientCaller:
    """Runs one logical call as attempts within a deadline, through a shared breaker."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        call_timeout: float,
        classify: Callable[[BaseException], FailureKind],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: RetryBudget | None = None,
    ) -> None:
        self.breaker = breaker
        self.retry = retry
        self.call_timeout = call_timeout
        self.budget = budget
        self._classify = classify
        self._sleep = sleep
        self._clock = clock

    def call(self, attempt: Callable[[float], T], deadline: float) -> T:
        """`attempt(timeout_seconds)` until it succeeds, fails for good, or time runs out.

        Raises an `UpstreamFailure` subclass: CircuitOpen, UpstreamUnavailable (503),
        UpstreamTimeout (504) or UpstreamBadResponse (502).
        """
        last_kind: FailureKind | None = None
        last_error: BaseException | None = None
        attempts = 0
        while True:
            remaining = deadline - self._clock()
            if remaining < MIN_ATTEMPT_SECONDS:
                raise self._out_of_time(attempts, last_kind, last_error)
            if not self.breaker.allow():
                if attempts:  # the breaker opened under this very request
                    raise self._failure(attempts, last_kind, last_error)
                raise CircuitOpen(
                    f"The {self.breaker.name} upstream is failing: its circuit breaker is open.",
                    retry_after=self.breaker.retry_after(),
                )
            attempts += 1
            if self.budget is not None and attempts == 1:
                self.budget.record_call()
            try:
                result = attempt(min(self.call_timeout, remaining))
            except Exception as error:  # classified below; anything unknown is a bad response
                last_error, last_kind = error, self._classify(error)
                if last_kind.counts_against_breaker:
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # the dependency answered, just not kindly
                if not last_kind.retryable or attempts > self.retry.retries:
                    raise self._failure(attempts, last_kind, last_error) from error
                pause = self.retry.backoff(attempts)
                if self._clock() + pause + MIN_ATTEMPT_SECONDS >= deadline:
                    raise self._out_of_time(attempts, last_kind, last_error) from error
                if self.budget is not None and not self.budget.try_retry():
                    raise self._failure(attempts, last_kind, last_error) from error
                self._sleep(pause)
                continue
            self.breaker.record_success()
            return result

    def _failure(
        self, attempts: int, kind: FailureKind | None, error: BaseException | None
    ) -> UpstreamFailure:
        detail = f"{type(error).__name__}: {error}" if error else ""
        what = {
            FailureKind.UNAVAILABLE: "was unavailable",
            FailureKind.OVERLOADED: "was overloaded",
            FailureKind.TIMEOUT: "did not answer in time",
            FailureKind.REJECTED: "rejected the request",
        }.get(kind, "answered with an error")  # type: ignore[arg-type]
        message = f"The {self.breaker.name} upstream {what} ({attempts} attempt(s))."
        if kind is FailureKind.TIMEOUT:
            return UpstreamTimeout(message, attempts=attempts, detail=detail)
        if kind is not None and kind.retryable:
            return UpstreamUnavailable(
                message, attempts=attempts, retry_after=self.breaker.retry_after(), detail=detail
            )
        return UpstreamBadResponse(message, attempts=attempts, detail=detail)

    def _out_of_time(
        self, attempts: int, kind: FailureKind | None, error: BaseException | None
    ) -> UpstreamFailure:
        if kind is None or kind is FailureKind.TIMEOUT:
            return UpstreamTimeout(
                f"The request's deadline passed waiting for the {self.breaker.name} upstream "
                f"({attempts} attempt(s)).",
                attempts=attempts,
                detail=f"{type(error).__name__}: {error}" if error else "",
            )
        return self._failure(attempts, kind, error)

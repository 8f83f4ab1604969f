"""Every request of a run, recorded exactly: an HdrHistogram of response times and counters.

Locust's own statistics round response times (to 10 ms between 100 ms and 1 s), too coarse to
tell 199 ms from 201 ms, so the gate does not read them. Instead a `events.request` listener
records each response time here: into an HdrHistogram (microseconds, 3 significant digits) for
the percentiles, and into an exact counter per latency threshold ("faster than 200 ms") for the
latency SLI. In distributed runs each worker sends what it recorded since its last report to the
master (`take()` then `merge()`), so the master judges the whole run. A Timeline keeps the same
requests per 5-second interval for report.html's chart of latency over time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest.timeline import Timeline

# Microseconds, from 1 µs to 1 hour; 3 significant digits keep every percentile within 0.1%.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 95.0, 99.0)

# How the gate classifies one request (see `classify`).
GOOD = "good"
SERVER_ERROR = "server_error"  # 5xx
NO_ANSWER = "no_answer"  # connection refused or reset, timeout: no HTTP status at all
WRONG_ANSWER = "wrong_answer"  # 2xx/3xx the scenario rejected: wrong label, malformed body
CLIENT_ERROR = "client_error"  # a 4xx the scenario did not expect
AUTH_OR_QUOTA = "auth_or_quota"  # 401/403/429: a credentials or quota problem
OUTCOMES = (GOOD, SERVER_ERROR, NO_ANSWER, WRONG_ANSWER, CLIENT_ERROR, AUTH_OR_QUOTA)
AUTH_OR_QUOTA_STATUSES = frozenset({401, 403, 429})
# The outcomes that count against availability (the gate's bad requests).
FAILED = (SERVER_ERROR, NO_ANSWER, WRONG_ANSWER, CLIENT_ERROR)


def classify(status: int, failed: bool) -> str:
    """The outcome of a request from its HTTP status (0: no answer) and Locust's verdict.

    A deliberately bad request answered with its expected 4xx is marked successful by its
    scenario, so it is GOOD; a 5xx is never good, whatever the scenario expected.
    """
    if status >= 500:
        return SERVER_ERROR
    if status == 0:
        return NO_ANSWER
    if not failed:
        return GOOD
    if status in AUTH_OR_QUOTA_STATUSES:
        return AUTH_OR_QUOTA
    if status >= 400:
        return CLIENT_ERROR
    return WRONG_ANSWER


@dataclass(frozen=True)
class LatencySummary:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, float]:
        return {
            "p50": self.p50_ms,
            "p95": self.p95_ms,
            "p99": self.p99_ms,
            "max": self.max_ms,
            "mean": self.mean_ms,
        }


class Recorder:
    """Response times and outcomes of the requests seen by this process (or merged from many)."""

    def __init__(self, thresholds_ms: Iterable[float] = ()) -> None:
        self.thresholds_ms = tuple(sorted({float(t) for t in thresholds_ms}))
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.outcomes: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.faster_than: Counter[str] = Counter()
        # Open-model bookkeeping (loadtest.arrivals writes here so that one message carries all).
        self.arrivals: Counter[str] = Counter()
        self.timeline = Timeline()

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def record(
        self, response_time_ms: float, status: int, failed: bool, at: float | None = None
    ) -> None:
        """One request: response time in ms (float), HTTP status (0: none), Locust verdict, when.

        `at` is the epoch time the request ended (default: now).
        """
        micros = min(max(round(response_time_ms * 1000), LOWEST_US), HIGHEST_US)
        self.histogram.record_value(micros)
        outcome = classify(status, failed)
        self.outcomes[outcome] += 1
        self.timeline.record(time.time() if at is None else at, response_time_ms, outcome in FAILED)
        self.statuses[str(status)] += 1
        if status:
            for threshold in self.thresholds_ms:
                if response_time_ms < threshold:
                    self.faster_than[_key(threshold)] += 1

    def count_faster_than(self, threshold_ms: float) -> int:
        if float(threshold_ms) not in self.thresholds_ms:
            raise KeyError(f"no exact counter for {threshold_ms} ms (have {self.thresholds_ms})")
        return self.faster_than[_key(threshold_ms)]

    def latency(self) -> LatencySummary | None:
        if self.histogram.get_total_count() == 0:
            return None
        p50, p95, p99 = (self.histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES)
        return LatencySummary(
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=self.histogram.get_max_value() / 1000,
            mean_ms=self.histogram.get_mean_value() / 1000,
        )

    def take(self) -> dict[str, Any]:
        """What was recorded since the last take, as a message (msgpack-safe), then reset."""
        message = {
            "histogram": self.histogram.encode().decode("ascii"),
            "outcomes": dict(self.outcomes),
            "statuses": dict(self.statuses),
            "faster_than": dict(self.faster_than),
            "arrivals": dict(self.arrivals),
            "timeline": self.timeline.take(),
        }
        self.histogram.reset()
        for counter in (self.outcomes, self.statuses, self.faster_than, self.arrivals):
            counter.clear()
        return message

    def merge(self, message: dict[str, Any]) -> None:
        """Add a message from `take()` (of another process) to this recorder."""
        if message["outcomes"]:
            self.histogram.add(HdrHistogram.decode(message["histogram"]))
        self.outcomes.update(message["outcomes"])
        self.statuses.update(message["statuses"])
        self.faster_than.update(message["faster_than"])
        self.arrivals.update(message["arrivals"])
        self.timeline.merge(message.get("timeline", {}))


def _key(threshold_ms: float) -> str:
    # Message keys must be strings (msgpack, JSON); repr keeps 200.0 and 200.5 apart.
    return repr(float(threshold_ms))

"""Per-interval latency and failures of a run, for report.html's chart of latency over time.

The run's HdrHistogram answers for the whole run; this answers per 5-second interval of wall
clock time, which is what shows a slow start, a cold instance or a degradation halfway through.
Each interval keeps a sparse histogram of response times in logarithmic bins 1% wide (so a
percentile read from it is within 0.5% of the exact one), its request count and its failed
count. Intervals are keyed by wall-clock time, so workers' timelines merge on the master like
the rest of the recorder (`take()` then `merge()`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

INTERVAL_S = 5.0
_LOG_STEP = math.log(1.01)


@dataclass(frozen=True)
class IntervalSummary:
    start: float  # epoch seconds of the interval's start
    total: int
    failed: int
    p50_ms: float
    p99_ms: float
    length_s: float = INTERVAL_S


class Timeline:
    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.bins: dict[int, Counter[int]] = {}
        self.failed: Counter[int] = Counter()

    def record(self, at: float, response_time_ms: float, failed: bool) -> None:
        index = int(at // self.interval_s)
        self.bins.setdefault(index, Counter())[_bin(response_time_ms)] += 1
        if failed:
            self.failed[index] += 1

    def summaries(self) -> list[IntervalSummary]:
        """One summary per interval that saw a request, in time order."""
        return [self._summary(index) for index in sorted(self.bins)]

    def take(self) -> dict[str, Any]:
        """What was recorded since the last take (string keys: msgpack and JSON), then reset."""
        message = {
            str(index): {
                "bins": {str(b): n for b, n in counts.items()},
                "failed": self.failed[index],
            }
            for index, counts in self.bins.items()
        }
        self.bins, self.failed = {}, Counter()
        return message

    def merge(self, message: dict[str, Any]) -> None:
        for key, interval in message.items():
            index = int(key)
            counts = self.bins.setdefault(index, Counter())
            counts.update({int(b): n for b, n in interval["bins"].items()})
            self.failed[index] += interval["failed"]

    def _summary(self, index: int) -> IntervalSummary:
        counts = self.bins[index]
        total = sum(counts.values())
        return IntervalSummary(
            start=index * self.interval_s,
            total=total,
            failed=self.failed[index],
            p50_ms=_percentile(counts, total, 0.50),
            p99_ms=_percentile(counts, total, 0.99),
            length_s=self.interval_s,
        )


def _bin(response_time_ms: float) -> int:
    # Logarithmic bins from 1 µs up (a zero response time lands in the first bin).
    return round(math.log(max(response_time_ms, 0.001)) / _LOG_STEP)


def _percentile(counts: Counter[int], total: int, share: float) -> float:
    """The value below which `share` of the interval's requests fall (nearest rank)."""
    rank = max(math.ceil(share * total), 1)
    seen = 0
    ordered = sorted(counts)
    for index in ordered:
        seen += counts[index]
        if seen >= rank:
            break
    return math.exp(index * _LOG_STEP)

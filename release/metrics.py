"""Counts per revision from Cloud Monitoring (ListTimeSeries, not MQL), over finished windows.

- availability: bad = `run.googleapis.com/request_count` points with response_code_class 5xx,
  total = all of them;
- latency: bad = requests slower than the SLO threshold, read from the bucket counts of the
  `run.googleapis.com/request_latencies` distribution, total = the distribution's count.

Raw points are read (no aligner) and summed here: an aligner would need an alignment period of
at least 60 s and windows on its grid, and the raw delta points already carry exact counts. A
point is counted in the window holding its end time, (start, end], so adjacent windows never
count a point twice whichever way the API treats the interval's ends.

Latency buckets rarely have a bound exactly at the threshold (Cloud Run's are exponential). The
bucket that holds the threshold is counted as slow, so the count can only overstate the slow
share, never hide it; the effective threshold (that bucket's lower bound) goes in the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.api_core import exceptions
from google.cloud import monitoring_v3

from release.environment import Environment

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"


class MetricsError(Exception):
    """The metrics could not be read (permission, quota, or a malformed distribution)."""


@dataclass
class RevisionCounts:
    """Bad and total events of one revision, per SLO (name -> [bad, total])."""

    counts: dict[str, list[int]] = field(default_factory=dict)

    def add(self, objective: str, bad: int, total: int) -> None:
        current = self.counts.setdefault(objective, [0, 0])
        current[0] += bad
        current[1] += total


@dataclass
class Window:
    start: float
    end: float
    revisions: dict[str, RevisionCounts]
    effective_threshold_ms: dict[str, float]


def lower_bounds(options: object) -> list[float]:
    """Lower bound of every bucket (bucket 0 is the underflow, from -inf)."""
    kind = options.WhichOneof("options")  # a raw google.api.Distribution.BucketOptions
    if kind == "linear_buckets":
        b = options.linear_buckets
        return [-math.inf] + [b.offset + b.width * i for i in range(b.num_finite_buckets + 1)]
    if kind == "exponential_buckets":
        b = options.exponential_buckets
        return [-math.inf] + [b.scale * b.growth_factor**i for i in range(b.num_finite_buckets + 1)]
    if kind == "explicit_buckets":
        return [-math.inf, *options.explicit_buckets.bounds]
    raise MetricsError("a request_latencies point has no bucket options")


def slow_count(distribution: object, threshold_ms: float) -> tuple[int, float]:
    """Requests in buckets that may hold a latency >= threshold, and the lower bound used."""
    bounds = lower_bounds(distribution.bucket_options)
    counts = list(distribution.bucket_counts)
    # The bucket holding the threshold: the last one whose lower bound is <= threshold.
    first_slow = max(i for i, low in enumerate(bounds) if low <= threshold_ms)
    if first_slow >= len(counts):
        return 0, bounds[first_slow]
    return sum(counts[first_slow:]), bounds[first_slow]


class Metrics:
    def __init__(self, client: monitoring_v3.MetricServiceClient, env: Environment) -> None:
        self.client = client
        self.env = env

    def window(self, start: float, end: float, revisions: list[str]) -> Window:
        result = {name: RevisionCounts() for name in revisions}
        thresholds: dict[str, float] = {}
        for objective in self.env.slos.objectives:
            if objective.sli == "availability":
                for series, point in self._points(REQUEST_COUNT, start, end, revisions):
                    revision = series.resource.labels["revision_name"]
                    total = point.value.int64_value
                    bad = total if series.metric.labels.get("response_code_class") == "5xx" else 0
                    result[revision].add(objective.name, bad, total)
            else:
                for series, point in self._points(REQUEST_LATENCIES, start, end, revisions):
                    revision = series.resource.labels["revision_name"]
                    distribution = point.value.distribution_value
                    slow, used = slow_count(distribution, objective.threshold_ms)
                    thresholds[objective.name] = used
                    result[revision].add(objective.name, slow, distribution.count)
            for counts in result.values():
                counts.counts.setdefault(objective.name, [0, 0])
        return Window(start, end, result, thresholds)

    def _points(self, metric: str, start: float, end: float, revisions: list[str]):
        names = ", ".join(f'"{name}"' for name in revisions)
        query = (
            f'metric.type = "{metric}" AND resource.type = "cloud_run_revision" '
            f'AND resource.labels.service_name = "{self.env.service}" '
            f'AND resource.labels.location = "{self.env.region}" '
            f"AND resource.labels.revision_name = one_of({names})"
        )
        interval = monitoring_v3.TimeInterval(start_time=_stamp(start), end_time=_stamp(end))
        try:
            pager = self.client.list_time_series(
                name=f"projects/{self.env.project}",
                filter=query,
                interval=interval,
                view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            )
            for series in pager:
                if series.resource.labels.get("revision_name") not in revisions:
                    continue
                for point in series.points:
                    point_end = point.interval.end_time.timestamp()
                    if start < point_end <= end:
                        yield series, point
        except exceptions.GoogleAPICallError as error:
            raise MetricsError(f"ListTimeSeries {metric}: {error.message}") from None


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)

"""google.monitoring.v3.MetricService.ListTimeSeries for Cloud Run, fed by a scripted canary.

Every revision serves its share of `requests_per_s` (the shares come from the fake Cloud Run's
reconciled traffic over time), with the error and slow shares its RevisionScript sets.

Documented behaviour reproduced:
- `request_count` is a DELTA INT64 metric with labels response_code and response_code_class,
  `request_latencies` a DELTA DISTRIBUTION in ms; resource `cloud_run_revision` with labels
  project_id, service_name, revision_name, configuration_name, location (Cloud Monitoring,
  "Google Cloud metrics": run).
- Points are sampled every `sample_s` (60 s on Google) and become visible only `ingest_delay_s`
  after their end (Google: up to 180 s); a period without requests writes no point.
- Points come newest first, series are paginated (next_page_token).
- The filter must name metric.type; unsupported filter syntax is INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import monitoring_v3

from tests.monitoring.fake.common import invalid
from tests.monitoring.fake.server import CloudState, paginate
from tests.release.fake.wire import handler

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
# Exponential buckets as a Cloud Run distribution has them; 200 ms falls inside a bucket.
BUCKETS = {"num_finite_buckets": 100, "growth_factor": 1.4, "scale": 1.0}
FAST_MS, SLOW_MS = 30.0, 900.0
_CLAUSE = re.compile(r'^([a-z_.]+)\s*=\s*(?:"([^"]*)"|one_of\(([^)]*)\))$')


@dataclass
class RevisionScript:
    error_share: float = 0.0005
    slow_share: float = 0.002


@dataclass
class MetricsApi:
    state: CloudState
    service: str
    region: str
    shares_at: Callable[[float], dict[str, int]]
    requests_per_s: float = 20000.0
    sample_s: float = 0.2
    ingest_delay_s: float = 0.2
    baseline: RevisionScript = field(default_factory=RevisionScript)
    scripts: dict[str, RevisionScript] = field(default_factory=dict)

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        methods = {"ListTimeSeries": (self.list, monitoring_v3.ListTimeSeriesRequest.pb())}
        return [handler("google.monitoring.v3.MetricService", methods, self.state)]

    def list(self, request: Any) -> Any:
        self.state.check_parent(request.name)
        clauses = _parse_filter(request.filter)
        metric = clauses.get("metric.type", [None])[0]
        if metric not in (REQUEST_COUNT, REQUEST_LATENCIES):
            raise invalid(f"metric.type {metric!r} is not a metric of this fake")
        if clauses.get("resource.labels.service_name", [self.service]) != [self.service]:
            return _page([], request, self.state)
        start = request.interval.start_time.ToNanoseconds() / 1e9
        end = request.interval.end_time.ToNanoseconds() / 1e9
        if end < start:
            raise invalid("interval.end_time is before interval.start_time")
        visible_end = min(end, time.time() - self.ingest_delay_s)
        wanted = clauses.get("resource.labels.revision_name")
        series = self._series(metric, start, visible_end, wanted)
        return _page(series, request, self.state)

    def _series(self, metric: str, start: float, end: float, wanted: list[str] | None) -> list[Any]:
        per_key: dict[tuple[str, str], Any] = {}
        first = math.floor(start / self.sample_s)
        for k in range(first, math.floor(end / self.sample_s) + 1):
            t0, t1 = k * self.sample_s, (k + 1) * self.sample_s
            if not start < t1 <= end:
                continue
            for revision, percent in self.shares_at(t0).items():
                if wanted is not None and revision not in wanted:
                    continue
                n = round(self.requests_per_s * self.sample_s * percent / 100)
                if n == 0:
                    continue  # no request, no point
                script = self.scripts.get(revision, self.baseline)
                bad = _share_of(k, n, script.error_share)
                slow = _share_of(k, n, script.slow_share)
                if metric == REQUEST_COUNT:
                    for code_class, count in (("2xx", n - bad), ("5xx", bad)):
                        if count:
                            point = self._series_for(per_key, revision, code_class).points.add()
                            _interval(point, t0, t1)
                            point.value.int64_value = count
                else:
                    point = self._series_for(per_key, revision, "").points.add()
                    _interval(point, t0, t1)
                    _distribution(point.value.distribution_value, n, slow)
        for series in per_key.values():
            series.points.reverse()  # newest first, as the API returns them
        return [per_key[key] for key in sorted(per_key)]

    def _series_for(self, per_key: dict, revision: str, code_class: str) -> Any:
        key = (revision, code_class)
        if key not in per_key:
            series = monitoring_v3.TimeSeries.pb()()
            series.resource.type = "cloud_run_revision"
            series.resource.labels.update(
                {
                    "project_id": self.state.project,
                    "service_name": self.service,
                    "revision_name": revision,
                    "configuration_name": self.service,
                    "location": self.region,
                }
            )
            if code_class:
                series.metric.type = REQUEST_COUNT
                series.metric.labels.update(
                    {"response_code_class": code_class, "response_code": code_class[0] + "00"}
                )
                series.metric_kind, series.value_type = 2, 2  # DELTA, INT64
            else:
                series.metric.type = REQUEST_LATENCIES
                series.metric_kind, series.value_type = 2, 5  # DELTA, DISTRIBUTION
            per_key[key] = series
        return per_key[key]


def _share_of(k: int, n: int, share: float) -> int:
    """Deterministic counts whose long-run share is exactly `share` (no sampling noise)."""
    return math.floor((k + 1) * n * share) - math.floor(k * n * share)


def _interval(point: Any, t0: float, t1: float) -> None:
    point.interval.start_time.FromNanoseconds(round(t0 * 1e9))
    point.interval.end_time.FromNanoseconds(round(t1 * 1e9))


def _distribution(distribution: Any, n: int, slow: int) -> None:
    options = distribution.bucket_options.exponential_buckets
    options.num_finite_buckets = BUCKETS["num_finite_buckets"]
    options.growth_factor, options.scale = BUCKETS["growth_factor"], BUCKETS["scale"]
    counts = [0] * (BUCKETS["num_finite_buckets"] + 2)
    counts[_bucket(FAST_MS)] += n - slow
    counts[_bucket(SLOW_MS)] += slow
    distribution.count = n
    distribution.mean = ((n - slow) * FAST_MS + slow * SLOW_MS) / n
    distribution.bucket_counts.extend(counts)


def _bucket(value_ms: float) -> int:
    """Bucket i >= 1 holds [scale * g**(i-1), scale * g**i)."""
    return 1 + math.floor(math.log(value_ms / BUCKETS["scale"], BUCKETS["growth_factor"]))


def _parse_filter(text: str) -> dict[str, list[str]]:
    clauses: dict[str, list[str]] = {}
    for clause in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(clause.strip())
        if match is None:
            raise invalid(f"unsupported filter clause {clause!r}")
        key, single, several = match.groups()
        values = [single] if single is not None else re.findall(r'"([^"]*)"', several)
        clauses[key] = values
    return clauses


def _page(series: list[Any], request: Any, state: CloudState) -> Any:
    page, token = paginate(series, request.page_size, request.page_token, state.page_size)
    response = monitoring_v3.ListTimeSeriesResponse.pb()()
    response.time_series.extend(page)
    response.next_page_token = token
    return response

"""Counts from Cloud Monitoring: 5xx out of all requests, and requests slower than the SLO
threshold read exactly from distribution buckets, per revision, over finished windows."""

from __future__ import annotations

import time

from google.api import distribution_pb2

from release import environment
from release.clients import build_clients
from release.metrics import Metrics, slow_count
from tests.release.conftest import STABLE, Runner
from tests.release.fake import RevisionScript


def distribution(counts: list[int], **options: object) -> distribution_pb2.Distribution:
    value = distribution_pb2.Distribution(count=sum(counts), bucket_counts=counts)
    if "bounds" in options:
        value.bucket_options.explicit_buckets.bounds.extend(options["bounds"])
    else:
        value.bucket_options.linear_buckets.num_finite_buckets = options["n"]
        value.bucket_options.linear_buckets.width = options["width"]
        value.bucket_options.linear_buckets.offset = 0
    return value


def test_a_bucket_bound_at_the_threshold_gives_the_exact_slow_count() -> None:
    # Explicit bounds 100, 200, 400: buckets (-inf,100) [100,200) [200,400) [400,inf).
    value = distribution([5, 7, 3, 2], bounds=[100, 200, 400])
    assert slow_count(value, 200.0) == (5, 200.0)


def test_a_threshold_inside_a_bucket_counts_that_bucket_as_slow() -> None:
    value = distribution([5, 7, 3, 2], bounds=[100, 200, 400])
    assert slow_count(value, 250.0) == (5, 200.0)  # never understates the slow share
    linear = distribution([0, 4, 4, 4, 1], n=3, width=100.0)  # [0,100) [100,200) [200,300)
    assert slow_count(linear, 150.0) == (9, 100.0)


def test_trailing_empty_buckets_may_be_left_out() -> None:
    value = distribution([5, 7], bounds=[100, 200, 400])  # the API drops trailing zeros
    assert slow_count(value, 200.0) == (0, 200.0)


def test_windows_count_each_point_once_per_revision(runner: Runner) -> None:
    cloud = runner.cloud
    cloud.metrics.baseline = RevisionScript(error_share=0.01, slow_share=0.1)
    cloud.state.page_size = 1  # one series a page: the client's pager must follow the token
    env = environment.load(str(runner.env_file))
    clients = build_clients(cloud.endpoint)
    metrics = Metrics(clients.metrics, env)
    start = time.time() - 5
    end = time.time() - 1
    middle = (start + end) / 2

    whole = metrics.window(start, end, [STABLE, "other-revision"])
    halves = [metrics.window(start, middle, [STABLE]), metrics.window(middle, end, [STABLE])]
    clients.close()

    counts = whole.revisions[STABLE].counts
    per_sample = cloud.metrics.requests_per_s * cloud.metrics.sample_s
    expected = cloud.metrics.requests_per_s * (end - start)
    assert abs(counts["availability"][1] - expected) <= per_sample
    assert abs(counts["availability"][0] / counts["availability"][1] - 0.01) < 1e-3
    assert abs(counts["latency"][0] / counts["latency"][1] - 0.1) < 1e-3
    for name in ("availability", "latency"):
        assert [sum(h.revisions[STABLE].counts[name][i] for h in halves) for i in (0, 1)] == (
            counts[name]
        )
    assert whole.revisions["other-revision"].counts == {"availability": [0, 0], "latency": [0, 0]}
    # 3 windows x 2 metrics, and a second page for the 2xx and 5xx series of request_count.
    assert cloud.calls["ListTimeSeries"] == 9

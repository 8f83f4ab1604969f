"""The recorder: exact counts per latency threshold, outcomes, and merging across workers."""

import random

import pytest

from loadtest.recorder import (
    AUTH_OR_QUOTA,
    CLIENT_ERROR,
    GOOD,
    NO_ANSWER,
    SERVER_ERROR,
    WRONG_ANSWER,
    Recorder,
    classify,
)


@pytest.mark.parametrize(
    ("status", "failed", "outcome"),
    [
        (200, False, GOOD),
        (400, False, GOOD),  # a deliberately bad request answered with its expected 4xx
        (200, True, WRONG_ANSWER),  # e.g. a wrong label for a known image
        (422, True, CLIENT_ERROR),  # a 4xx the scenario did not expect
        (401, True, AUTH_OR_QUOTA),
        (403, True, AUTH_OR_QUOTA),
        (429, True, AUTH_OR_QUOTA),
        (503, True, SERVER_ERROR),
        (500, False, SERVER_ERROR),  # a 5xx is never good, even if a scenario accepted it
        (0, True, NO_ANSWER),
    ],
)
def test_classification(status, failed, outcome):
    assert classify(status, failed) == outcome


def test_faster_than_counts_exactly_at_the_threshold():
    recorder = Recorder([200])
    for response_time in (199.0, 199.999, 200.0, 200.001, 250.0):
        recorder.record(response_time, 200, failed=False)
    # Strictly faster than 200 ms: 199.0 and 199.999 only. Locust's buckets round 195-204 ms
    # to 200 and could not tell these apart.
    assert recorder.count_faster_than(200) == 2
    assert recorder.total == 5


def test_a_request_without_answer_is_never_fast():
    recorder = Recorder([200])
    recorder.record(3.0, 0, failed=True)  # connection refused after 3 ms
    assert recorder.count_faster_than(200) == 0
    assert recorder.outcomes[NO_ANSWER] == 1


def test_percentiles_come_from_the_histogram_within_a_tenth_of_a_percent():
    recorder = Recorder([200])
    for millis in range(1, 1001):  # 1 ms .. 1000 ms, one each
        recorder.record(float(millis), 200, failed=False)
    latency = recorder.latency()
    assert latency.p50_ms == pytest.approx(500, rel=1e-3)
    assert latency.p95_ms == pytest.approx(950, rel=1e-3)
    assert latency.p99_ms == pytest.approx(990, rel=1e-3)
    assert latency.max_ms == pytest.approx(1000, rel=1e-3)
    assert Recorder().latency() is None


def test_merging_worker_messages_equals_recording_everything_in_one_place():
    rng = random.Random(7)
    requests = [
        (rng.expovariate(1 / 50), rng.choice([200, 200, 200, 400, 503, 0]), rng.random() < 0.1)
        for _ in range(3000)
    ]
    single = Recorder([100, 200])
    workers = [Recorder([100, 200]) for _ in range(3)]
    master = Recorder([100, 200])
    for index, (millis, status, failed) in enumerate(requests):
        at = 1_800_000_000.0 + index / 100  # 30 s of requests, six 5-second intervals
        single.record(millis, status, failed, at=at)
        workers[index % 3].record(millis, status, failed, at=at)
        if index % 500 == 0:  # periodic reports, as every 3 s in a run
            for worker in workers:
                master.merge(worker.take())
    for worker in workers:
        master.merge(worker.take())
        assert worker.total == 0  # take() resets
    assert master.total == single.total == 3000
    assert master.outcomes == single.outcomes
    assert master.statuses == single.statuses
    assert master.count_faster_than(200) == single.count_faster_than(200)
    assert master.count_faster_than(100) == single.count_faster_than(100)
    assert master.latency() == single.latency()
    assert master.timeline.summaries() == single.timeline.summaries()
    assert len(master.timeline.summaries()) == 6


def test_an_unknown_threshold_is_an_error_not_a_zero():
    with pytest.raises(KeyError, match="no exact counter for 300"):
        Recorder([200]).count_faster_than(300)

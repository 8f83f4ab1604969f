"""Per-interval latency (loadtest/timeline.py): percentiles per 5-second interval, merging."""

import json

import pytest

from loadtest.recorder import Recorder
from loadtest.timeline import Timeline

START = 1_800_000_000.0  # a multiple of 5 s


def test_requests_fall_into_5_second_intervals_of_wall_clock_time():
    timeline = Timeline()
    for offset, millis in ((0.0, 10.0), (4.99, 20.0), (5.0, 300.0), (12.0, 40.0)):
        timeline.record(START + offset, millis, failed=False)
    assert [(s.start - START, s.total) for s in timeline.summaries()] == [
        (0.0, 2),
        (5.0, 1),
        (10.0, 1),
    ]


def test_interval_percentiles_are_within_half_a_percent():
    timeline = Timeline()
    for millis in range(1, 1001):  # 1 .. 1000 ms in one interval
        timeline.record(START + 1, float(millis), failed=millis % 100 == 0)
    (summary,) = timeline.summaries()
    assert summary.p50_ms == pytest.approx(500, rel=0.005)
    assert summary.p99_ms == pytest.approx(990, rel=0.005)
    assert (summary.total, summary.failed) == (1000, 10)


def test_a_zero_response_time_is_recorded():
    timeline = Timeline()
    timeline.record(START, 0.0, failed=True)
    (summary,) = timeline.summaries()
    assert summary.p50_ms == pytest.approx(0.001, rel=0.01)


def test_the_message_is_json_safe_and_merges_on_the_master():
    worker, master = Timeline(), Timeline()
    worker.record(START, 12.0, failed=False)
    worker.record(START + 6, 15.0, failed=True)
    master.record(START + 1, 30.0, failed=False)
    message = json.loads(json.dumps(worker.take()))
    assert worker.summaries() == []  # take() resets
    master.merge(message)
    first, second = master.summaries()
    assert (first.total, first.failed, second.total, second.failed) == (2, 0, 1, 1)


def test_the_recorder_counts_availability_failures_in_its_timeline():
    recorder = Recorder([200])
    recorder.record(5.0, 503, failed=True, at=START)
    recorder.record(5.0, 401, failed=True, at=START)  # not a service failure
    recorder.record(5.0, 200, failed=False, at=START)
    (summary,) = recorder.timeline.summaries()
    assert (summary.total, summary.failed) == (3, 1)

"""The open model's arrival schedule, on a fake clock: on time, late, dropped, ramps."""

import itertools

import pytest

from loadtest.arrivals import DROPPED, LATE, SCHEDULED, STARTED, ArrivalScheduler, pool_size


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scheduler(rate: float) -> tuple[ArrivalScheduler, FakeClock]:
    clock = FakeClock()
    arrivals = ArrivalScheduler(clock=clock, sleep=clock.sleep)
    arrivals.set_rate(rate)
    return arrivals, clock


def test_slots_are_spaced_one_over_the_rate():
    arrivals, clock = scheduler(10.0)
    starts = []
    for _ in range(5):
        arrivals.wait_for_slot()
        starts.append(clock.now)
    assert [round(b - a, 9) for a, b in itertools.pairwise(starts)] == [0.1] * 4
    assert arrivals.counters == {SCHEDULED: 5, STARTED: 5}


def test_a_slow_answer_does_not_delay_the_schedule_when_a_user_is_free():
    # Two users: one is stuck for 1 s on a slow answer, the other still starts on time.
    arrivals, clock = scheduler(10.0)
    arrivals.wait_for_slot()  # user A at t0, then waits 1 s for its answer
    first = clock.now
    for expected in (0.1, 0.2, 0.3):
        assert arrivals.wait_for_slot() == 0.0  # user B, on time
        assert clock.now - first == pytest.approx(expected)


def test_overdue_slots_are_late_then_dropped():
    arrivals, clock = scheduler(10.0)
    arrivals.wait_for_slot()
    clock.now += 0.14  # the only user was busy: the next slot (due +0.1) is 40 ms overdue
    assert arrivals.wait_for_slot() == pytest.approx(0.04)
    assert arrivals.counters[LATE] == 1
    clock.now += 1.0  # busy for a second, until t0 + 1.14 s
    # Slots due at t0 + 0.2 .. 0.8 s are more than 250 ms overdue: dropped. The one due at
    # t0 + 0.9 s starts, 240 ms late.
    assert arrivals.wait_for_slot() == pytest.approx(0.24)
    assert arrivals.counters[DROPPED] == 7
    assert arrivals.counters[LATE] == 2
    assert arrivals.counters[SCHEDULED] == arrivals.counters[STARTED] + 7


def test_a_rate_change_carries_the_elapsed_share_of_an_interval_over():
    arrivals, clock = scheduler(0.01)  # one arrival per 100 s: the start of a ramp
    arrivals.wait_for_slot()
    clock.now += 1.0  # a hundredth of the interval has passed
    arrivals.set_rate(100.0)  # the ramp's next step
    before = clock.now
    assert arrivals.wait_for_slot() == 0.0  # not 1 s overdue, and nothing dropped
    assert clock.now - before == pytest.approx(0.0099)
    assert arrivals.counters[DROPPED] == 0


def test_rate_zero_pauses_and_restarts_from_now():
    arrivals, clock = scheduler(10.0)
    arrivals.wait_for_slot()
    arrivals.set_rate(0)
    clock.now += 30
    arrivals.set_rate(10.0)
    assert arrivals.wait_for_slot() == 0.0
    assert arrivals.counters[DROPPED] == 0


def test_pool_size():
    assert pool_size(100, None) == 100  # up to 1 s per request at 100/s
    assert pool_size(4, None) == 10  # at least 10
    assert pool_size(100, 60) == 60  # --users wins

"""The open model: requests start on a schedule, not when the previous answer came back.

In a closed model (each user waits for its answer, thinks, sends the next) a slow service
lowers the load it receives and hides its slowness: coordinated omission. Here, every
load-generating process holds one `ArrivalScheduler`: a shared clock of arrival slots spaced
1/rate apart. A free user waits for the next slot and starts its request when it is due; when
the service slows down, the pool of users still starts requests on time as long as one of them
is free.
When none is free, slots pass unclaimed: a slot claimed more than LATE_AFTER_S after it was due
counts as late (it still runs), and slots more than DROP_AFTER_S overdue are dropped and
counted, like k6's dropped_iterations. The report shows achieved against target rate.

The master's load shape publishes the current total rate; each of N workers runs rate / N.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore

RATE_MESSAGE = "loadtest_rate"
LATE_AFTER_S = 0.025
DROP_AFTER_S = 0.25
IDLE_POLL_S = 0.05
MAX_NAP_S = 0.1
# The default pool keeps the target rate while answers take up to a second (5x the latency
# threshold), so arrivals are dropped only when the service is far off its objective; idle
# gevent users cost little. Size it with --users for slower services.
DEFAULT_SECONDS_PER_USER = 1.0
MIN_POOL = 10

SCHEDULED, STARTED, LATE, DROPPED = "scheduled", "started", "late", "dropped"


def pool_size(rate: float, users: int | None) -> int:
    """Users to keep for an arrival rate: --users if given, else enough for 1 s each."""
    if users:
        return users
    return max(MIN_POOL, math.ceil(rate * DEFAULT_SECONDS_PER_USER))


class ArrivalScheduler:
    """Hands out arrival slots at the current rate to the users of one process.

    One free user at a time holds the turn and sleeps until the next slot is due (in naps of at
    most MAX_NAP_S, so that a rate change takes effect at once); it claims the slot, passes the
    turn on and sends its request. The next slot is always the last one plus 1 / current rate.
    """

    def __init__(
        self,
        counters: Counter[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = gevent.sleep,
    ) -> None:
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.rate = 0.0
        self._last_slot: float | None = None
        self._turn = BoundedSemaphore()
        self._clock = clock
        self._sleep = sleep

    def set_rate(self, rate: float) -> None:
        """Arrivals per second for this process from now on (0 pauses).

        The schedule integrates the rate: the share of an interval that had passed under the
        old rate carries over to the new one, so a ramp neither skips nor bunches arrivals.
        """
        if rate <= 0:
            self._last_slot = None
        elif self._last_slot is not None and self.rate > 0 and rate != self.rate:
            now = self._clock()
            progress = (now - self._last_slot) * self.rate  # intervals since the last slot
            self._last_slot = now - progress / rate
        self.rate = max(rate, 0.0)

    def wait_for_slot(self) -> float:
        """Block until the caller's arrival slot is due; return how late it started (s)."""
        with self._turn:
            while True:
                now = self._clock()
                if self.rate <= 0:
                    self._sleep(IDLE_POLL_S)
                    continue
                interval = 1.0 / self.rate
                due = now if self._last_slot is None else self._last_slot + interval
                if due > now:
                    self._sleep(min(due - now, MAX_NAP_S))
                    continue
                overdue = now - due
                if overdue > DROP_AFTER_S:
                    # Nobody was free when these were due: skip them, keep the schedule.
                    missed = math.floor((overdue - DROP_AFTER_S) / interval) + 1
                    self._last_slot = due + (missed - 1) * interval
                    self.counters[SCHEDULED] += missed
                    self.counters[DROPPED] += missed
                    continue
                self._last_slot = due
                self.counters[SCHEDULED] += 1
                self.counters[STARTED] += 1
                if overdue > LATE_AFTER_S:
                    self.counters[LATE] += 1
                return overdue


# One scheduler per process: the users of this process and the rate messages share it.
SCHEDULER = ArrivalScheduler()


def publish_rate(runner: Any, total_rate: float) -> None:
    """From the shape (master or local runner): give every load-generating process its share."""
    workers = getattr(runner, "worker_count", 1) or 1
    runner.send_message(RATE_MESSAGE, {"rate": total_rate / workers})


def on_rate_message(environment: Any, msg: Any, **_kwargs: Any) -> None:
    SCHEDULER.set_rate(float(msg.data["rate"]))

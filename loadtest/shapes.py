"""`ProfileShape`: the Locust LoadTestShape that plays a profile from loadtest.profiles."""

from __future__ import annotations

import math
import time

from locust import LoadTestShape

from loadtest import arrivals, hooks
from loadtest.profiles import PROFILES

# After the profile ends, how long to wait for every worker's last results before giving up
# (workers report every 3 s; a missing report makes the gate say the run cannot be judged).
FINAL_REPORT_TIMEOUT_S = 15.0
STOP_RATE = 100  # users stopped per second (Locust warns above 100 per worker)


class ProfileShape(LoadTestShape):
    """Plays the profile named by --shape for --run-time seconds (default: the profile's).

    Closed model: the user count follows the profile. Open model (--arrival-rate > 0): a fixed
    pool of users and the arrival rate follows the profile; each tick publishes the current rate
    to the arrival schedulers (loadtest.arrivals) of every load-generating process.

    When the profile ends, it stops every user first and ends the run only once every worker
    has reported its results from after that (see loadtest.hooks), since Locust itself waits
    only half a second for the workers' last reports.
    """

    use_common_options = True  # read --users and --run-time
    _ended_at: float | None = None

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        profile = PROFILES[options.shape]
        duration = options.run_time or profile.default_duration_s
        level = profile.level(self.get_run_time(), duration)
        if level is None:
            return self._finish()
        if options.arrival_rate > 0:
            # Ticks come once a second: publish the rate of the middle of the coming second,
            # exact for the linear stages of a profile.
            ahead = profile.level(self.get_run_time() + 0.5, duration)
            rate = (level if ahead is None else ahead) * options.arrival_rate
            pool = arrivals.pool_size(options.arrival_rate, options.num_users)
            arrivals.publish_rate(self.runner, rate)
            return pool, pool
        peak = options.num_users or 1
        return max(1, math.ceil(level * peak)), peak

    def _finish(self) -> tuple[int, float] | None:
        now = time.monotonic()
        if self._ended_at is None:
            self._ended_at = now
            hooks.mark_end()
            arrivals.publish_rate(self.runner, 0.0)
        waited = now - self._ended_at
        if hooks.results_complete(self.runner) or waited > FINAL_REPORT_TIMEOUT_S:
            return None
        return 0, STOP_RATE

"""The real locustfile, plus a worker that reports a CPU warning as Locust would at 95%.

Used by test_loadtest_end_to_end to check that a saturated worker reaches the master's gate.
"""

import gevent
from locust import events
from locust.runners import WorkerRunner

from loadtest.locustfile import PredictionClient, ProfileShape

__all__ = ["PredictionClient", "ProfileShape"]


@events.test_start.add_listener
def warn_soon(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        gevent.spawn_later(
            2, environment.events.cpu_warning.fire, environment=environment, cpu_usage=95.0
        )

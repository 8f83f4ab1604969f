"""The locustfile: `locust -f loadtest/locustfile.py` (what `python -m loadtest` runs).

Import order matters: `locust` first, so that gevent monkey-patches the standard library before
anything imports ssl (google-auth does, lazily, in loadtest.auth).
"""

import locust  # noqa: F401 - first, for gevent's monkey-patching
from locust import events

from loadtest import hooks
from loadtest.scenarios import PredictionClient
from loadtest.shapes import ProfileShape

hooks.install(events)

__all__ = ["PredictionClient", "ProfileShape"]

"""Fault injection for degradation drills: a WSGI middleware around the real service.

STAGING AND TESTS ONLY. It is off unless you run it explicitly, it is not part of the service
package or its container image, and it must never front production traffic. It shows that the
gate catches a degraded service: added latency and a share of 503 answers on POST /predict
(health and readiness routes are left alone, as a real slowdown would usually leave them).

Run it like the service itself:

    gunicorn -c service/gunicorn.conf.py \
        "loadtest.degrade:degraded_app(latency_ms=300, error_share=0.02)"

or let the load test start it locally: `python -m loadtest --inject-latency-ms 300
--inject-error-share 0.02`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
DEGRADED_PATHS = ("/predict",)


class FaultInjection:
    """Delays matching requests by `latency_ms` and answers exactly `error_share` of them 503.

    The failures are spread evenly and deterministically (request k fails when
    floor(k x share) moves up), so a drill gets the share it asked for, not a random draw.
    """

    def __init__(self, app: WsgiApp, latency_ms: float = 0.0, error_share: float = 0.0) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        if not 0.0 <= error_share <= 1.0:
            raise ValueError(f"error_share must be within [0, 1], got {error_share}")
        self.app = app
        self.latency_s = latency_ms / 1000.0
        self.error_share = error_share
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ.get("PATH_INFO") not in DEGRADED_PATHS:
            return self.app(environ, start_response)
        if self.latency_s:
            time.sleep(self.latency_s)
        if self._next_fails():
            _drain(environ)  # keep the connection usable for the client's next request
            body = json.dumps(
                {"error": {"code": "INJECTED_FAULT", "message": "fault injected by a drill"}}
            ).encode()
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)

    def _next_fails(self) -> bool:
        with self._lock:
            self._count += 1
            k = self._count
        return math.floor(k * self.error_share) > math.floor((k - 1) * self.error_share)


def _drain(environ: dict[str, Any]) -> None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        environ["wsgi.input"].read(length)


def degraded_app(latency_ms: float = 0.0, error_share: float = 0.0) -> FaultInjection:
    """The real `service:create_app()` behind the fault injection (a Gunicorn app factory)."""
    from service import create_app

    return FaultInjection(create_app(), latency_ms=latency_ms, error_share=error_share)

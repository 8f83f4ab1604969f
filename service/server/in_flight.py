"""A bound on the requests one worker runs at once (its share of CONCURRENCY), counted from
when a request's body has arrived.

A body with a Content-Length (up to MAX_BODY_BYTES) is read in full before the request takes a
slot, so a slow upload holds a connection and a greenlet, never a slot, and the app's own work
(and its deadline) starts once the bytes are in: the server reads requests before dispatching
them, as Cloud Run's front end does. Cloud Run never sends an instance more than its
concurrency setting, so there the bound is never reached. Behind another proxy, or called
directly, it keeps an instance from taking more work than it was sized for: a request beyond it
waits briefly for a slot, then gets a 503 with Retry-After, which a client or load balancer
retries elsewhere. Health, readiness and metadata routes (GET, HEAD, OPTIONS) are never held.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

# How long a request beyond the bound waits for a slot: short next to the request deadline, so
# that an overloaded instance says so quickly instead of queueing requests past their deadline.
SLOT_WAIT_SECONDS = 0.5
_UNBOUNDED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class InFlightLimit:
    """WSGI middleware: at most `limit` non-GET requests inside `app` at once."""

    def __init__(
        self, app: WsgiApp, limit: int, max_body_bytes: int, wait: float = SLOT_WAIT_SECONDS
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_body_bytes = max_body_bytes
        self.wait = wait
        # Under gevent's monkey-patching this is a gevent semaphore: waiting costs no thread.
        self._slots = threading.BoundedSemaphore(limit)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") in _UNBOUNDED_METHODS:
            return self.app(environ, start_response)
        self._read_body_first(environ)
        if not self._slots.acquire(timeout=self.wait):
            return self._overloaded(environ, start_response)
        try:
            # The app's Flask response is a list (not streamed): the slot is freed once the
            # body is built, before the bytes go out.
            return self.app(environ, start_response)
        finally:
            self._slots.release()

    def _read_body_first(self, environ: dict[str, Any]) -> None:
        """Replace wsgi.input by the whole body, read now. Left to the app: no Content-Length
        (chunked framing), or one above MAX_BODY_BYTES (the app answers 413 unread)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return
        if not 0 < length <= self.max_body_bytes:
            return
        body = environ["wsgi.input"].read(length)  # short if the client stopped sending
        environ["wsgi.input"] = io.BytesIO(body)

    def _overloaded(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        message = (
            f"This instance already runs its {self.limit} requests (CONCURRENCY per worker); "
            "retry shortly."
        )
        body = json.dumps({"error": {"code": "OVERLOADED", "message": message}}).encode()
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Retry-After", "1"),
            ],
        )
        path = environ.get("PATH_INFO", "")
        logger.warning(
            "%s %s 503",
            environ.get("REQUEST_METHOD"),
            path,
            extra={
                "http_request": {
                    "requestMethod": environ.get("REQUEST_METHOD"),
                    "requestUrl": path,  # the path only: a query value never reaches a log
                    "status": 503,
                },
                "json_fields": {"error_code": "OVERLOADED", "in_flight_limit": self.limit},
            },
        )
        return [body]

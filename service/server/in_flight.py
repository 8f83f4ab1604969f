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

The bytes of the bodies a worker holds at once are bounded too (MAX_BODY_BYTES_IN_FLIGHT): a
request reserves its Content-Length before reading, and keeps it until its answer is built. A
request that cannot reserve waits, unread (its bytes stay in the kernel's socket buffers), so
300 slow 10 MB uploads cost the worker at most the budget, not 3 GB.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from service.server.rejections import Rejection, error_body
from service.server.request_line import RequestLine

logger = logging.getLogger(__name__)

# How long a request beyond the bound waits for a slot: short next to the request deadline, so
# that an overloaded instance says so quickly instead of queueing requests past their deadline.
SLOT_WAIT_SECONDS = 0.5
_UNBOUNDED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ByteBudget:
    """Bytes reserved by the requests in flight, at most `limit` (one request may always
    have its turn alone, whatever its size). Waiting is a gevent wait under monkey-patching."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0
        self._changed = threading.Condition()

    def reserve(self, size: int, timeout: float) -> bool:
        """Take `size` bytes once they fit (False if they did not within `timeout`)."""
        with self._changed:
            fits = self._changed.wait_for(
                lambda: self.reserved == 0 or self.reserved + size <= self.limit, timeout
            )
            if fits:
                self.reserved += size
            return fits

    def release(self, size: int) -> None:
        with self._changed:
            self.reserved -= size
            self._changed.notify_all()


class InFlightLimit:
    """WSGI middleware: at most `limit` non-GET requests inside `app` at once, and at most
    `body_budget` bytes of their bodies in memory."""

    def __init__(
        self,
        app: WsgiApp,
        limit: int,
        max_body_bytes: int,
        body_budget: int,
        wait: float = SLOT_WAIT_SECONDS,
        body_wait: float = 30.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_body_bytes = max_body_bytes
        self.wait = wait
        self.body_wait = body_wait
        self.bodies = ByteBudget(body_budget)
        # Under gevent's monkey-patching this is a gevent semaphore: waiting costs no thread.
        self._slots = threading.BoundedSemaphore(limit)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") in _UNBOUNDED_METHODS:
            return self.app(environ, start_response)
        size = self._body_length(environ)
        if size and not self.bodies.reserve(size, self.body_wait):
            return self._overloaded(environ, start_response)
        try:
            if size:
                # short if the client stopped sending
                environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(size))
            if not self._slots.acquire(timeout=self.wait):
                return self._overloaded(environ, start_response)
            try:
                # The app's Flask response is a list (not streamed): the slot is freed once
                # the body is built, before the bytes go out.
                return self.app(environ, start_response)
            finally:
                self._slots.release()
        finally:
            if size:
                self.bodies.release(size)

    def _body_length(self, environ: dict[str, Any]) -> int:
        """The body to read before dispatch; 0 leaves it to the app: no Content-Length
        (chunked framing), or one above MAX_BODY_BYTES (the app answers 413 unread)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return 0
        return length if 0 < length <= self.max_body_bytes else 0

    def _overloaded(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        message = (
            f"This instance already runs its {self.limit} requests (CONCURRENCY per worker) "
            "or holds its MAX_BODY_BYTES_IN_FLIGHT; retry shortly."
        )
        path = environ.get("PATH_INFO", "")
        # The error shape of every worker-level answer (the Open Inference Protocol's under /v2).
        body = error_body(RequestLine(path=path), Rejection(503, "OVERLOADED", message))
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Retry-After", "1"),
            ],
        )
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

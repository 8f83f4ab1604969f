"""Gunicorn's logger and the slow-client guard, importable (and testable) outside the config
file, for every worker class the configuration may choose."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from gunicorn import glogging


class NoAccessLogLogger(glogging.Logger):
    """Gunicorn's logger without the access log. With logconfig_dict set, the stock logger
    counts the access log as enabled and builds every request's access-log atoms (headers,
    times, formatting: ~5% of a prediction's CPU) for a logger with no handler."""

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: the app logs each request itself (service/logs.py)."""


class SlowClientGuard:
    """Shuts the read side of a connection whose request has been in progress for more than
    `timeout` seconds. A read in progress then ends: during the headers Gunicorn closes the
    connection; during the body the app gets it cut short and answers a 4xx. A request already
    past its reads is unaffected (only reading is shut), so the bound is never hit by a
    well-behaved client: reads from Cloud Run's front end take milliseconds.

    Under gevent (monkey-patched) the watcher is a greenlet and the lock a gevent lock; under
    gthread they are OS threads. Either way a trickling client holds at most one connection
    slot for `timeout` seconds, never the instance (tests/drills/)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._started: dict[socket.socket, float] = {}  # the request's socket -> its start
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="slow-client-guard", daemon=True).start()

    @contextlib.contextmanager
    def track(self, sock: socket.socket) -> Iterator[None]:
        """Bound the reads of the request handled in this block."""
        with self._lock:
            self._started[sock] = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._started.pop(sock, None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            cutoff = time.monotonic() - self.timeout
            with self._lock:
                expired = [sock for sock, started in self._started.items() if started < cutoff]
            for sock in expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)


def guard_gthread_worker(worker: Any, guard: SlowClientGuard) -> None:
    """gthread reads and handles one request per `worker.handle(conn)` call, in a thread."""
    handle = worker.handle

    def guarded(connection: Any) -> Any:
        with guard.track(connection.sock):
            return handle(connection)

    worker.handle = guarded


def capture_warnings() -> None:
    """Pillow reports damaged files (a TIFF tag past the end of the file...) with
    warnings.warn: route them through logging, as JSON lines, instead of plain text on stderr."""
    logging.captureWarnings(True)

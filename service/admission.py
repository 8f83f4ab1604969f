"""Admission: how much memory one worker process lets requests take at once.

Before its first pixel is decoded, every image reserves what decoding it will cost
(service/decode_memory.py) from the process's decode budget, `DECODE_MEMORY_MB` (an image that
alone costs more is refused with 413 by service/preprocess.py). Before the view reads a large
request body, the request reserves twice its length from the body budget, `BODY_MEMORY_MB`.
While a budget is full, a request waits, in arrival order (a large image is not starved by a
stream of small ones), up to `DECODE_WAIT_SECONDS`, then gets 503 `OVERLOADED` with
`Retry-After`. The kernel's OOM killer never has to choose a worker.

The budget is shared by the worker's threads (gthread) or greenlets (gevent patches
`threading`, so the same condition variable then yields to the event loop).

Memory goes back to the system afterwards: glibc's malloc otherwise raises its mmap threshold
to the size of each mmapped block freed (up to 32 MiB on 64-bit; mallopt(3), M_MMAP_THRESHOLD),
after which image-sized blocks come from heaps and per-thread arenas that it seldom returns;
workers kept 380-450 MB after a few large images. `init_app` fixes the threshold (setting it
turns the adjustment off: large blocks are mmapped and unmapped on free), caps the arenas, and
`malloc_trim` runs when the last decode of a busy spell ends. Measured by
benchmarks/decode_burst.py (peak and after-burst RSS, glibc defaults against this tuning).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request

from service.config import Settings
from service.decode_memory import MIB
from service.errors import ApiError

logger = logging.getLogger(__name__)
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD_BYTES = 1 * MIB  # blocks from this size up are mmapped, and unmapped when freed
ARENA_MAX = 2
# malloc_trim walks the heaps; run it only after this much was reserved since the last one.
TRIM_AFTER_BYTES = 32 * MIB
# Bodies up to this size are not counted (a 28x28 PNG is ~0.5 KB; a phone photo ~3 MB).
UNCOUNTED_BODY_BYTES = 256 * 1024


class MemoryBudget:
    """Bytes in flight in this process for one purpose, at most `capacity`; FIFO when full.

    `setting` (the variable that sets the capacity) and `work` ("decoding large images")
    name it in the 503 a client gets after waiting `wait_seconds` in vain."""

    def __init__(self, capacity: int, wait_seconds: float, setting: str, work: str) -> None:
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self.setting = setting
        self.work = work
        self._in_use = 0
        self._waiting: collections.deque[object] = collections.deque()
        self._condition = threading.Condition()
        self._reserved_since_trim = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.wait_seconds))

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        """Hold `cost` bytes (at most the whole capacity) while the block runs."""
        cost = self.acquire(cost)
        try:
            yield
        finally:
            self.release(cost)

    def acquire(self, cost: int) -> int:
        """Wait for room for `cost` bytes, capped at the capacity, and take it: the bytes taken,
        for `release`. ApiError 503 OVERLOADED after `wait_seconds` without room."""
        cost = min(cost, self.capacity)
        with self._condition:
            if not self._waiting and self._in_use + cost <= self.capacity:
                self._in_use += cost
                return cost
            ticket = object()
            self._waiting.append(ticket)
            deadline = time.monotonic() + self.wait_seconds
            try:
                while self._waiting[0] is not ticket or self._in_use + cost > self.capacity:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise self._overloaded()
                    self._condition.wait(remaining)
                self._in_use += cost
                return cost
            finally:
                self._waiting.remove(ticket)
                self._condition.notify_all()  # the next in line may fit now

    def release(self, cost: int) -> None:
        with self._condition:
            self._in_use -= cost
            self._reserved_since_trim += cost
            trim = self._in_use == 0 and self._reserved_since_trim >= TRIM_AFTER_BYTES
            if trim:
                self._reserved_since_trim = 0
            self._condition.notify_all()
        if trim:
            release_free_memory()

    def _overloaded(self) -> ApiError:
        if has_request_context():
            g.admission_retry_after = self.retry_after_seconds
        return ApiError(
            503,
            "OVERLOADED",
            f"This worker is {self.work} with all the memory it allows "
            f"({self.setting}={self.capacity // MIB}); retry after {self.retry_after_seconds} s.",
        )


@dataclass(frozen=True)
class Admission:
    """A process's limits: the longest side an image may declare, the decode budget and the
    request-body budget."""

    max_image_side: int
    budget: MemoryBudget
    bodies: MemoryBudget
    max_body_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        wait = settings.decode_wait_seconds
        return cls(
            max_image_side=settings.max_image_side,
            budget=MemoryBudget(
                settings.decode_memory_mb * MIB, wait, "DECODE_MEMORY_MB", "decoding images"
            ),
            bodies=MemoryBudget(
                settings.body_memory_mb * MIB, wait, "BODY_MEMORY_MB", "reading request bodies"
            ),
            max_body_bytes=settings.max_body_bytes,
        )

    def body_cost(self, content_length: int | None, chunked: bool) -> int:
        """What a request body will hold while the request runs: twice its length (the bytes,
        and the copy parsing makes: base64 decoded, multipart parts), 0 for a small body."""
        if content_length is None:
            return 2 * self.max_body_bytes if chunked else 0  # its length is known at the end
        return 2 * content_length if content_length > UNCOUNTED_BODY_BYTES else 0


_default = Admission.from_settings(Settings())


def current() -> Admission:
    """The limits of the app serving this request (one app per worker process under
    Gunicorn); outside an app context, the process's (`configure`, else the defaults)."""
    if has_app_context():
        limits = current_app.extensions.get("admission")
        if limits is not None:
            return limits
    return _default


def configure(settings: Settings) -> Admission:
    """Install `settings`' limits as the process's own and tune malloc; the new limits."""
    global _default
    _default = Admission.from_settings(settings)
    tune_allocator()
    return _default


def init_app(app: Flask, settings: Settings) -> None:
    """The app's limits (its own budget, so that apps built in one process, as tests do, do
    not share one), tuned malloc, and a Retry-After header on the 503s a full budget causes."""
    limits = app.extensions["admission"] = Admission.from_settings(settings)
    tune_allocator()

    @app.before_request
    def reserve_body_memory() -> None:
        # Before the view reads the body: under gevent, 80 requests in flight would otherwise
        # hold 80 bodies of up to MAX_BODY_BYTES at once.
        length = request.content_length
        if length is not None and length <= UNCOUNTED_BODY_BYTES:
            return  # most requests: nothing more to look at
        if length is None and "HTTP_TRANSFER_ENCODING" not in request.environ:
            return  # no body at all (health and readiness probes)
        encoding = request.headers.get("Transfer-Encoding", "")
        chunked = length is None and "chunked" in encoding.lower()
        cost = limits.body_cost(length, chunked)
        if cost:
            g.admission_body_bytes = limits.bodies.acquire(cost)

    @app.teardown_request
    def release_body_memory(_error: BaseException | None) -> None:
        taken = g.pop("admission_body_bytes", None)
        if taken:
            limits.bodies.release(taken)

    @app.after_request
    def add_retry_after(response: Response) -> Response:
        seconds = g.pop("admission_retry_after", None)
        if seconds is not None and response.status_code == 503:
            response.headers.setdefault("Retry-After", str(seconds))
        return response


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None  # not glibc (musl, macOS): its allocator behaves differently anyway
    return libc


_LIBC = _libc()


def tune_allocator() -> bool:
    """Fixed mmap and trim thresholds and at most ARENA_MAX arenas; False without glibc."""
    if _LIBC is None:
        return False
    _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    _LIBC.mallopt(_M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD_BYTES)
    _LIBC.mallopt(_M_ARENA_MAX, ARENA_MAX)
    return True


def release_free_memory() -> None:
    """Give the heaps' free pages back to the system (glibc's malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

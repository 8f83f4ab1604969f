"""Per-stage durations of a request, sent back in a `Server-Timing` header.

A view wraps each stage in `with stage("decode"):`; durations of a stage that runs once per
instance add up. The header (`decode;dur=0.412, preprocess;dur=0.095, infer;dur=0.61`, in
milliseconds) lets a client or a load test see where the time of one request went; the same
figures go into the request's log line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Flask, Response, g

STAGES = ("decode", "preprocess", "infer")


class StageTimer:
    """Accumulates wall-clock milliseconds per named stage, in first-seen order."""

    def __init__(self) -> None:
        self.milliseconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.milliseconds[name] = self.milliseconds.get(name, 0.0) + elapsed

    def header_value(self) -> str:
        return ", ".join(f"{name};dur={ms:.3f}" for name, ms in self.milliseconds.items())


def expect_stages(*names: str) -> None:
    """Report these stages even if they do not run (as 0 ms), so the header keeps one shape."""
    timer = current_timer()
    for name in names:
        timer.milliseconds.setdefault(name, 0.0)


def stage(name: str) -> AbstractContextManager[None]:
    """Time a stage of the current request (see `StageTimer.stage`)."""
    return current_timer().stage(name)


def current_timer() -> StageTimer:
    timer = g.get("stage_timer")
    if timer is None:
        timer = g.stage_timer = StageTimer()
    return timer


def init_app(app: Flask) -> None:
    """Add the Server-Timing header to every response that timed at least one stage."""

    @app.after_request
    def add_server_timing(response: Response) -> Response:
        timer = g.get("stage_timer")
        if timer is not None and timer.milliseconds:
            response.headers["Server-Timing"] = timer.header_value()
        return response

"""Per-stage durations of a request, sent back in a `Server-Timing` header.

A view wraps each stage in `with stage("decode"):`; durations of a stage that runs once per
instance add up. The header (`decode;dur=0.412, preprocess;dur=0.095, infer;dur=0.61`, in
milliseconds) lets a client or a load test see where the time of one request went; the same
figures go into the request's log line (`timing_ms`).

The durations live in one dict per request (`g.stage_ms`, name -> ms, first-seen order). A
stage's context manager is made once per name and reused by every request and thread: it keeps
its start instant in `g` too, so timing a stage allocates nothing but the float. Stages do not
nest.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g

STAGES = ("decode", "preprocess", "infer")


class _Stage:
    """`with stage(name):` adds the block's wall-clock milliseconds to g.stage_ms[name], also
    when the block raises (a failed upstream call is timed too)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        g.stage_started = time.perf_counter()

    def __exit__(self, *_exc: Any) -> None:
        elapsed = (time.perf_counter() - g.stage_started) * 1000.0
        stage_ms = _stage_ms()
        stage_ms[self.name] = stage_ms.get(self.name, 0.0) + elapsed


_STAGE_OBJECTS = {name: _Stage(name) for name in STAGES}


def stage(name: str) -> _Stage:
    """Time a stage of the current request (see `_Stage`)."""
    return _STAGE_OBJECTS.get(name) or _Stage(name)


def expect_stages(*names: str) -> None:
    """Report these stages even if they do not run (as 0 ms), so the header keeps one shape."""
    stage_ms = _stage_ms()
    for name in names:
        stage_ms.setdefault(name, 0.0)


def _stage_ms() -> dict[str, float]:
    stage_ms = g.get("stage_ms")
    if stage_ms is None:
        stage_ms = g.stage_ms = {}
    return stage_ms


def header_value(stage_ms: dict[str, float]) -> str:
    return ", ".join(f"{name};dur={ms:.3f}" for name, ms in stage_ms.items())


def init_app(app: Flask) -> None:
    """Add the Server-Timing header to every response that timed at least one stage."""

    @app.after_request
    def add_server_timing(response: Response) -> Response:
        stage_ms = g.get("stage_ms")
        if stage_ms:
            response.headers["Server-Timing"] = header_value(stage_ms)
        return response

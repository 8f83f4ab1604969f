"""Structured logs for Cloud Logging: one JSON line per request, on standard output.

google-cloud-logging's `StructuredLogHandler` writes the line in the format Cloud Run's agent
parses (severity, httpRequest, logging.googleapis.com/trace...). Its filter reads the trace id
from the Flask request's `traceparent` or `X-Cloud-Trace-Context` header and writes it as
`projects/PROJECT_ID/traces/TRACE_ID` when PROJECT_ID is set. Views add their own fields
(labels, confidences, backend) to `g.log_fields`. Neither bodies nor headers other than the
User-Agent are ever logged.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from flask import Flask, Response, g, request
from google.cloud.logging_v2.handlers import StructuredLogHandler

from service.config import Settings

PACKAGE_LOGGER = "service"
REQUEST_LOGGER = "service.request"


def init_app(app: Flask, settings: Settings, stream: TextIO | None = None) -> None:
    """Send the package's logs through a StructuredLogHandler and log each request once."""
    configure_package_logger(settings, stream)
    request_logger = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_logger.log(
            _severity(response.status_code),
            "%s %s %d",
            request.method,
            request.path,
            response.status_code,
            extra={
                "http_request": _http_request(response),
                "json_fields": _json_fields(),
            },
        )
        return response


def configure_package_logger(settings: Settings, stream: TextIO | None = None) -> None:
    """One StructuredLogHandler on the `service` logger (replacing any earlier one)."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, StructuredLogHandler):
            logger.removeHandler(handler)
    logger.addHandler(
        StructuredLogHandler(project_id=settings.project_id, stream=stream or sys.stdout)
    )
    logger.setLevel(settings.log_level)
    # The root logger may have a plain-text handler (Gunicorn's, pytest's): not twice.
    logger.propagate = False


def _severity(status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


def _http_request(response: Response) -> dict[str, Any]:
    started = g.get("request_started")
    latency = time.perf_counter() - started if started is not None else 0.0
    fields: dict[str, Any] = {
        "requestMethod": request.method,
        "requestUrl": request.url,
        "status": response.status_code,
        "latency": f"{latency:.6f}s",
        "userAgent": request.user_agent.string,
        # Cloud Run's front end puts the client first in X-Forwarded-For.
        "remoteIp": request.access_route[0] if request.access_route else request.remote_addr,
        "protocol": request.environ.get("SERVER_PROTOCOL"),
    }
    if request.content_length is not None:
        fields["requestSize"] = str(request.content_length)
    if response.content_length is not None:
        fields["responseSize"] = str(response.content_length)
    return fields


def _json_fields() -> dict[str, Any]:
    fields: dict[str, Any] = dict(g.get("log_fields", {}))
    error_code = g.get("error_code")
    if error_code:
        fields["error_code"] = error_code
    timer = g.get("stage_timer")
    if timer is not None and timer.milliseconds:
        fields["timing_ms"] = {name: round(ms, 3) for name, ms in timer.milliseconds.items()}
    return fields

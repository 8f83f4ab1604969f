"""Structured logs for Cloud Logging: one JSON line per request, on standard output.

google-cloud-logging's `StructuredLogHandler` writes the line in the format Cloud Run's agent
parses (severity, httpRequest, logging.googleapis.com/trace...). The trace id comes from the
request's `traceparent` or `X-Cloud-Trace-Context` header (parsed by the library's own parsers)
and is written as `projects/PROJECT_ID/traces/TRACE_ID` when PROJECT_ID is set. Views add their
own fields (labels, confidences, backend) to `g.log_fields`. Neither bodies, nor query values,
nor headers other than the User-Agent are ever logged.

The handler's stock filter (`CloudLoggingFilter`) looks for a Flask or Django request on every
record and rebuilds its full URL each time (the costliest part of a prediction's log line, and
it would log a query string's `?access_token=` in the clear). `RequestDataFilter` takes its place
on the handler: it reads each request's data once, with the query values redacted, and fills the
same record fields the handler's format expects.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, NamedTuple, TextIO

from flask import Flask, Response, g, has_request_context, request
from google.cloud.logging_v2.handlers import CloudLoggingFilter, StructuredLogHandler
from google.cloud.logging_v2.handlers._helpers import _parse_trace_parent, _parse_xcloud_trace

from service.config import Settings

PACKAGE_LOGGER = "service"
REQUEST_LOGGER = "service.request"
REDACTED = "REDACTED"
# A query key kept in the log: a short parameter name. A longer or odder key may be a token.
_PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-\[\]]{0,39}")


class RequestData(NamedTuple):
    """What a log record made during a request says about it (all None outside a request).
    `trace` is the bare trace id: the filter prefixes it with its project."""

    http_request: dict[str, Any] | None
    trace: str | None
    span_id: str | None
    trace_sampled: bool


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
    handler = StructuredLogHandler(project_id=settings.project_id, stream=stream or sys.stdout)
    use_request_data_filter(handler, settings)
    logger.addHandler(handler)
    logger.setLevel(settings.log_level)
    # The root logger may have a plain-text handler (Gunicorn's, pytest's): not twice.
    logger.propagate = False
    # Records that reach the root logger during a request (Pillow's warnings, libraries' own
    # loggers) go out through Gunicorn's structured handler: it must redact the URL too.
    for root_handler in logging.getLogger().handlers:
        if isinstance(root_handler, StructuredLogHandler):
            use_request_data_filter(root_handler, settings)


def use_request_data_filter(handler: StructuredLogHandler, settings: Settings) -> None:
    """Swap the handler's stock `CloudLoggingFilter` (and any earlier one of ours) for ours."""
    for old_filter in [f for f in handler.filters if isinstance(f, CloudLoggingFilter)]:
        handler.removeFilter(old_filter)
    handler.addFilter(RequestDataFilter(project=settings.project_id))


def _severity(status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


class RequestDataFilter(CloudLoggingFilter):
    """`CloudLoggingFilter` with the request's data read once per request, query redacted.

    Fields passed explicitly (`extra={"http_request": ..., "trace": ...}`) win, as with the
    stock filter; the record fields set here are the ones `StructuredLogHandler`'s format reads.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        data = current_request_data()
        trace = data.trace
        if trace is not None and self.project is not None:
            trace = f"projects/{self.project}/traces/{trace}"
        record._resource = getattr(record, "resource", None)
        record._trace = getattr(record, "trace", trace) or None
        record._span_id = getattr(record, "span_id", data.span_id) or None
        record._trace_sampled = bool(getattr(record, "trace_sampled", data.trace_sampled))
        record._http_request = getattr(record, "http_request", data.http_request)
        record._source_location = getattr(record, "source_location", None) or {
            "line": record.lineno,
            "file": record.pathname,
            "function": record.funcName,
        }
        user_labels = getattr(record, "labels", {})
        logger_label = {"python_logger": record.name} if record.name else {}
        record._labels = {**logger_label, **self.default_labels, **user_labels} or None
        record._trace_str = record._trace or ""
        record._span_id_str = record._span_id or ""
        record._trace_sampled_str = "true" if record._trace_sampled else "false"
        record._http_request_str = json.dumps(record._http_request or {}, ensure_ascii=False)
        record._source_location_str = json.dumps(record._source_location, ensure_ascii=False)
        record._labels_str = json.dumps(record._labels or {}, ensure_ascii=False)
        return True


_NO_REQUEST = RequestData(None, None, None, False)


def current_request_data() -> RequestData:
    """The current request's method, redacted URL, user agent and trace ids (read once)."""
    if not has_request_context():
        return _NO_REQUEST
    data = g.get("log_request_data")
    if data is None:
        # W3C traceparent first, then Cloud Trace's own header, as the library does.
        trace, span_id, sampled = _parse_trace_parent(request.headers.get("traceparent"))
        if trace is None:
            trace, span_id, sampled = _parse_xcloud_trace(
                request.headers.get("X-Cloud-Trace-Context")
            )
        http_request = {
            "requestMethod": request.method,
            "requestUrl": redacted_url(),
            "userAgent": request.environ.get("HTTP_USER_AGENT", ""),
            "protocol": request.environ.get("SERVER_PROTOCOL"),
        }
        data = g.log_request_data = RequestData(http_request, trace, span_id, sampled)
    return data


def redacted_url() -> str:
    """The request's URL with every query value replaced: a token sent as `?access_token=`
    must not reach the logs. Keys that look like parameter names stay (they say what kind of
    request it was); a part without `=` (a bare `?TOKEN`) or an odd key is replaced whole."""
    url = f"{request.scheme}://{request.host}{request.root_path}{request.path}"
    if not request.query_string:
        return url
    return url + "?" + redacted_query(request.query_string.decode("latin-1"))


def redacted_query(query: str) -> str:
    """A query string with every value replaced (see `redacted_url`); also used for the
    request lines that Gunicorn's parser rejects (service/server/rejections.py)."""
    return "&".join(_redacted_query_part(part) for part in query.split("&") if part)


def _redacted_query_part(part: str) -> str:
    key, equals, _value = part.partition("=")
    if not equals or not _PARAMETER_NAME.fullmatch(key):
        return REDACTED
    return f"{key}={REDACTED}"


def _http_request(response: Response) -> dict[str, Any]:
    started = g.get("request_started")
    latency = time.perf_counter() - started if started is not None else 0.0
    fields: dict[str, Any] = {
        **current_request_data().http_request,
        "status": response.status_code,
        "latency": f"{latency:.6f}s",
        # Cloud Run's front end puts the client first in X-Forwarded-For.
        "remoteIp": request.access_route[0] if request.access_route else request.remote_addr,
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

"""Structured logs for Cloud Logging: one JSON line per request, on standard output.

google-cloud-logging's `StructuredLogHandler` writes records in the format Cloud Run's agent
parses (severity, httpRequest, logging.googleapis.com/trace...); the request line itself is
written by service/request_log.py in the same format, built once per request. The trace id
comes from the request's `traceparent` or `X-Cloud-Trace-Context` header (validated here: a
trace id that is not 32 hex characters is dropped) and is written as
`projects/PROJECT_ID/traces/TRACE_ID` when PROJECT_ID is set. Views add their own fields
(labels, confidences, backend) to `g.log_fields`. Neither bodies, nor query values, nor headers
other than the User-Agent are ever logged.

The handler's stock filter (`CloudLoggingFilter`) looks for a Flask or Django request on every
record and rebuilds its full URL each time (costly, and it would log a query string's
`?access_token=` in the clear). `RequestDataFilter` takes its place on the handler: it reads
each request's data once, with the query values redacted, and fills the same record fields the
handler's format expects.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import time
from typing import Any, NamedTuple, TextIO

from flask import Flask, Response, g, has_request_context, request
from google.cloud.logging_v2.handlers import CloudLoggingFilter, StructuredLogHandler

from service.config import Settings

PACKAGE_LOGGER = "service"
REQUEST_LOGGER = "service.request"  # the request lines (service/request_log.py)
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
    from service.request_log import RequestLog

    request_log = RequestLog(configure_package_logger(settings, stream), settings.project_id)

    @app.before_request
    def start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_log.log_request(response)
        return response


def configure_package_logger(
    settings: Settings, stream: TextIO | None = None
) -> StructuredLogHandler:
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
    return handler


def use_request_data_filter(handler: StructuredLogHandler, settings: Settings) -> None:
    """Swap the handler's stock `CloudLoggingFilter` (and any earlier one of ours) for ours."""
    for old_filter in [f for f in handler.filters if isinstance(f, CloudLoggingFilter)]:
        handler.removeFilter(old_filter)
    handler.addFilter(RequestDataFilter(project=settings.project_id))


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
# W3C Trace Context (www.w3.org/TR/trace-context): version-traceid-parentid-flags, lowercase
# hex, neither id all zeros; the same rules as the library's _parse_trace_parent.
_TRACEPARENT = re.compile(
    r"[ \t]?(?!ff)[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})"
    r"(?:-[^\r\n]*)?[ \t]?"
)
# Cloud Trace's legacy header (cloud.google.com/trace/docs/trace-context#legacy-http-header):
# TRACE_ID[/SPAN_ID][;o=OPTIONS], a 32-hex trace id and a decimal 64-bit span id. The library's
# own parser takes any run of word characters as the trace id (8,000 of them, say): here a trace
# id that is not exactly 32 hex characters is dropped, and its span with it.
_XCLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([0-9]))?(?:;.*)?")


def trace_context(environ: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(trace id, span id as 16 hex, sampled) from `traceparent`, else `X-Cloud-Trace-Context`,
    the library's order; (None, None, False) when neither holds a valid trace id."""
    match = _TRACEPARENT.fullmatch(environ.get("HTTP_TRACEPARENT", ""))
    if match:
        return match[1], match[2], bool(int(match[3], 16) & 1)
    match = _XCLOUD_TRACE.fullmatch(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT", ""))
    if not match:
        return None, None, False
    span = int(match[2]) if match[2] else 0
    # Cloud Logging's spanId is 16 hex digits: the decimal span id converted, as the library does.
    span_id = f"{span:016x}" if 0 < span < 2**64 else None
    return match[1].lower(), span_id, match[3] == "1"


def client_ip(environ: dict[str, Any]) -> str | None:
    """The client's address: the LAST entry of X-Forwarded-For, the one Cloud Run's front end
    wrote, if it is an IP address; else the connection's peer. Entries before it are whatever
    the client sent (`X-Forwarded-For: 6.6.6.6` from the client arrives as `6.6.6.6, CLIENT`).
    Google documents that the proxy appends the client's address (cloud.google.com/functions/
    docs/reference/headers: "clientIp, proxy1Ip, proxy2Ip"); reports from Cloud Run say it
    replaces the header with the client's address alone. The last entry is right either way."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        last = forwarded.rpartition(",")[2].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return environ.get("REMOTE_ADDR")


def current_request_data() -> RequestData:
    """The current request's method, redacted URL, user agent and trace ids (read once)."""
    if not has_request_context():
        return _NO_REQUEST
    # The objects behind the `g` and `request` proxies, looked up once: every proxy access is
    # a context-variable lookup, and a request line reads a dozen of them.
    context = g._get_current_object()  # type: ignore[attr-defined]
    data = getattr(context, "log_request_data", None)
    if data is None:
        environ = request.environ
        trace, span_id, sampled = trace_context(environ)
        http_request = {
            "requestMethod": environ.get("REQUEST_METHOD"),
            "requestUrl": redacted_url(),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "protocol": environ.get("SERVER_PROTOCOL"),
        }
        data = context.log_request_data = RequestData(http_request, trace, span_id, sampled)
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

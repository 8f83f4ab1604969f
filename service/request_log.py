"""The request log line: one JSON line per request, built once and serialised once.

It carries exactly the fields google-cloud-logging's `StructuredLogHandler` writes for a record
(`message`, `severity`, `logging.googleapis.com/labels`, `.../trace`, `.../spanId`,
`.../trace_sampled`, `.../sourceLocation`, `httpRequest`) plus the view's own fields, but skips
the record machinery: no LogRecord, findCaller, filter or `%` format, and one orjson call
instead of four `json.dumps`. The parts that never change (severity, labels, source location)
are serialised once, at start-up. The line goes to the package handler's stream under that
handler's lock, so it never interleaves with the handler's own records, and is flushed as the
handler would. The logger's level is honoured (LOG_LEVEL=WARNING drops the 2xx lines).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson
from flask import Response, g, request

from service.logs import REQUEST_LOGGER, client_ip, current_request_data

_LEVELS = {logging.INFO: "INFO", logging.WARNING: "WARNING", logging.ERROR: "ERROR"}


def severity(status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


class RequestLog:
    """Writes the request line to `handler`'s stream. The trace is written as
    `projects/PROJECT_ID/traces/ID` when the project is known, else as the bare id, as
    RequestDataFilter does for the handler's own records."""

    def __init__(self, handler: logging.StreamHandler, project_id: str | None) -> None:
        self._handler = handler
        self._logger = logging.getLogger(REQUEST_LOGGER)
        self._trace_prefix = f"projects/{project_id}/traces/" if project_id else ""
        source = {"line": _LINE, "file": __file__, "function": "log_request"}
        # '{"severity": ..., labels, sourceLocation,' : the variable object's '{' is cut off.
        self._heads = {
            level: orjson.dumps(
                {
                    "severity": name,
                    "logging.googleapis.com/labels": {"python_logger": REQUEST_LOGGER},
                    "logging.googleapis.com/sourceLocation": source,
                }
            )[:-1]
            + b","
            for level, name in _LEVELS.items()
        }

    def log_request(self, response: Response) -> None:
        status = response.status_code
        level = severity(status)
        if not self._logger.isEnabledFor(level) or level < self._handler.level:
            return
        data = current_request_data()
        context = g._get_current_object()  # type: ignore[attr-defined]
        current = request._get_current_object()  # type: ignore[attr-defined]
        environ = current.environ
        started = getattr(context, "request_started", None)
        latency = time.perf_counter() - started if started is not None else 0.0
        http_request = {
            **data.http_request,
            "status": status,
            "latency": f"{latency:.6f}s",
            "remoteIp": client_ip(environ),
        }
        request_size = _request_size(environ)
        if request_size is not None:
            http_request["requestSize"] = request_size
        response_size = response.content_length
        if response_size is not None:
            http_request["responseSize"] = str(response_size)
        trace = data.trace
        line = {
            "message": f"{environ.get('REQUEST_METHOD')} {current.path} {status}",
            **json_fields(context),
            "logging.googleapis.com/trace": self._trace_prefix + trace if trace else "",
            "logging.googleapis.com/spanId": data.span_id or "",
            "logging.googleapis.com/trace_sampled": data.trace_sampled,
            "httpRequest": http_request,
        }
        self._write(self._heads[level] + _dumps(line)[1:] + b"\n")

    def _write(self, line: bytes) -> None:
        handler = self._handler
        text = line.decode()
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except (OSError, ValueError):
            # A closed or broken stdout must not fail the request: logging's own handlers
            # swallow the same errors (Handler.handleError) rather than raise them.
            pass
        finally:
            handler.release()


_LINE = RequestLog.log_request.__code__.co_firstlineno


def json_fields(context: Any) -> dict[str, Any]:
    """The view's fields (g.log_fields), the error code and the stage timings; `context` is
    the request's `g` object itself."""
    fields: dict[str, Any] = dict(getattr(context, "log_fields", {}))
    error_code = getattr(context, "error_code", None)
    if error_code:
        fields["error_code"] = error_code
    stage_ms = getattr(context, "stage_ms", None)
    if stage_ms:
        fields["timing_ms"] = {name: round(ms, 3) for name, ms in stage_ms.items()}
    return fields


def _request_size(environ: dict[str, Any]) -> str | None:
    """Werkzeug's `Request.content_length` rules, read from the environ (no header lookups):
    none for a chunked body or without the header, 0 for a malformed one."""
    length = environ.get("CONTENT_LENGTH")
    if length is None or environ.get("HTTP_TRANSFER_ENCODING") == "chunked":
        return None
    length = length.strip()
    return str(int(length)) if length.isascii() and length.isdigit() else "0"


def _dumps(line: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(line)
    except (orjson.JSONEncodeError, TypeError):
        # orjson refuses what json writes (a lone surrogate in a path, a non-str key): the
        # line is still written, escaped, rather than lost.
        return json.dumps(line, ensure_ascii=True, default=str).encode()

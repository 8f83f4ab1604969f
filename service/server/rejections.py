"""Requests that Gunicorn's parser rejects, answered like the app's own errors.

Gunicorn answers a request it cannot parse (a bad request line or header, a request line or
header block over its limits, an unknown transfer coding, a failed expectation) from
`Worker.handle_error` (gunicorn/workers/base.py): an HTML page that echoes the offending bytes, a
WARNING that quotes the raw request line (query tokens included) and no request log line, so
4xx counts built from the logs miss it. `RejectionsMixin` replaces that method for any worker
class (gthread, gevent): the documented JSON error body (the Open Inference Protocol's
`{"error": "..."}` under /v2), `Connection: close`, and one request log line like the app's
(service/logs.py), built from a redacted request line. The message never quotes the request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http import errors

from service.logs import REQUEST_LOGGER
from service.server.request_line import RequestLine, request_line


@dataclass(frozen=True)
class Rejection:
    """How one kind of parser error is answered."""

    status: int
    code: str
    message: str


_BAD_CHUNK = "The chunked body is malformed: a chunk size, chunk extension or CRLF is invalid."
# Checked in order: the first class that matches wins (InvalidResponseHeader is an InvalidHeader
# but the application's fault, as in Gunicorn's own handle_error).
_REJECTIONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Rejection], ...] = (
    (
        (
            errors.InvalidResponseHeader,
            errors.InvalidResponseHeaderName,
            errors.ConfigurationProblem,
        ),
        Rejection(500, "INTERNAL", "The server failed to process the request."),
    ),
    (errors.LimitRequestLine, Rejection(414, "URI_TOO_LONG", "The request line is too long.")),
    (
        errors.LimitRequestHeaders,
        Rejection(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "The request has too many header (or trailer) fields, or too large ones.",
        ),
    ),
    (
        errors.ExpectationFailed,
        Rejection(417, "EXPECTATION_FAILED", "The only Expect value accepted is 100-continue."),
    ),
    (
        errors.UnsupportedTransferCoding,
        Rejection(
            501,
            "UNSUPPORTED_TRANSFER_CODING",
            "The Transfer-Encoding is not supported: send chunked or a Content-Length.",
        ),
    ),
    (
        (errors.InvalidRequestLine, errors.InvalidRequestMethod, errors.InvalidHTTPVersion),
        Rejection(
            400,
            "BAD_REQUEST",
            "The request line is malformed: expected METHOD SP /target SP HTTP/1.1.",
        ),
    ),
    (
        (errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding),
        Rejection(
            400,
            "BAD_REQUEST",
            "A header or trailer field is malformed, repeated or contradicts the framing.",
        ),
    ),
    (
        (errors.InvalidChunkSize, errors.ChunkMissingTerminator, errors.InvalidChunkExtension),
        Rejection(400, "BAD_REQUEST", _BAD_CHUNK),
    ),
    (
        errors.NoMoreData,
        Rejection(400, "BAD_REQUEST", "The body ended before its framing said it would."),
    ),
    (errors.ForbiddenProxyRequest, Rejection(403, "FORBIDDEN", "The request is not allowed.")),
    (
        errors.ParseException,
        Rejection(400, "BAD_REQUEST", "The request is not valid HTTP/1.1."),
    ),
)
_INTERNAL = _REJECTIONS[0][1]

logger = logging.getLogger(REQUEST_LOGGER)


def classify(error: BaseException) -> Rejection:
    """The answer to a parser or framing error (500 INTERNAL for anything else)."""
    for kinds, rejection in _REJECTIONS:
        if isinstance(error, kinds):
            return rejection
    return _INTERNAL


def error_body(line: RequestLine, rejection: Rejection) -> bytes:
    """The API's error shape; the Open Inference Protocol's `{"error": "..."}` under /v2."""
    if line.is_open_inference:
        document: dict[str, Any] = {"error": rejection.message}
    else:
        document = {"error": {"code": rejection.code, "message": rejection.message}}
    return json.dumps(document).encode()


def http_response(status: int, body: bytes) -> bytes:
    """A complete HTTP/1.1 response that ends the connection."""
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class RejectionsMixin:
    """Put before a Gunicorn worker class: `class Worker(RejectionsMixin, ThreadWorker)`."""

    log: Any  # the worker's Gunicorn logger

    def init_process(self) -> None:
        # Before super(): Worker.init_process ends in the worker's run loop.
        self.log.error_log.addFilter(ExceptionArgumentsFilter())
        super().init_process()  # type: ignore[misc]

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        rejection = classify(exc)
        line = request_line(req, exc)
        body = error_body(line, rejection)
        log_rejection(line, rejection, addr, client, len(body), exc)
        try:
            util.write_nonblock(client, http_response(rejection.status, body))
        except Exception:  # the client has gone: nothing to answer
            self.log.debug("Failed to send the error response.")


def log_rejection(
    line: RequestLine,
    rejection: Rejection,
    addr: Any,
    client: Any,
    response_size: int,
    error: BaseException,
) -> None:
    """One request line, as service/logs.py writes for the app's requests. A rejected request is
    the client's doing (WARNING, 501 included); only a 500 is an ERROR, with its traceback."""
    http_request: dict[str, Any] = {
        "requestMethod": line.method,
        "requestUrl": f"http://{_server_host(client)}{line.target()}",
        "status": rejection.status,
        "responseSize": str(response_size),
        # The connection's peer: a rejected request's headers are not read, or not trusted.
        "remoteIp": addr[0] if isinstance(addr, tuple) and addr else "",
    }
    if line.protocol:
        http_request["protocol"] = line.protocol
    internal = rejection.status == 500
    logger.log(
        logging.ERROR if internal else logging.WARNING,
        "%s %s %d",
        line.method,
        line.path,
        rejection.status,
        exc_info=error if internal else None,
        extra={
            "http_request": http_request,
            "json_fields": {"error_code": rejection.code, "rejected_by": "gunicorn"},
        },
    )


def _server_host(client: Any) -> str:
    try:
        host, port = client.getsockname()[:2]
    except (OSError, AttributeError, TypeError, ValueError):
        return "-"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class ExceptionArgumentsFilter(logging.Filter):
    """Gunicorn's DEBUG lines name parser exceptions with their contents ("Ignored premature
    client disconnection. %s" with a NoMoreData holding the bytes read so far, a partial request
    line with its query): an exception argument is logged as its class name only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, BaseException) for arg in record.args
        ):
            record.args = tuple(
                type(arg).__name__ if isinstance(arg, BaseException) else arg for arg in record.args
            )
        return True

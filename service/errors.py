"""JSON errors: every failure leaves as `{"error": {"code": ..., "message": ...}}`.

Views raise `ApiError`; Werkzeug's own HTTP errors (unknown route, wrong method, body over the
limit, malformed multipart) and anything unexpected are turned into the same shape, so that no
client ever sees an HTML page or a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from service.resilience import UpstreamFailure

logger = logging.getLogger(__name__)

# Werkzeug's HTTP errors, by status, mapped to the codes this API documents.
_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "HEADERS_TOO_LARGE",
}


class ApiError(Exception):
    """An error the client can act on: an HTTP status, a stable code and a readable message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def at(self, location: str) -> ApiError:
        """The same error, its message prefixed with where it happened (`instances[3]`)."""
        return ApiError(self.status, self.code, f"{location}: {self.message}")


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON error body; also remembered on `g` for the request log line."""
    g.error_code = code
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(UpstreamFailure)
    def handle_upstream_failure(error: UpstreamFailure) -> Response:
        # A remote backend failed (service/resilience.py): 502, 503 with Retry-After, or 504.
        response = error_response(error.status, error.code, error.message)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        message = error.description or error.name
        response = error_response(status, code, message)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        # A bug, not bad input: keep the details in the log (with the traceback), not the body.
        logger.exception("unhandled error while serving the request")
        return error_response(500, "INTERNAL", "The server failed to process the request.")

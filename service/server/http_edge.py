"""The request checks that come before any route: framing the app can see, and its wiring.

- HTTP/1.1 requires exactly one Host header (RFC 9112 section 3.2: "A server MUST respond with a
  400 (Bad Request) status code to any HTTP/1.1 request message that lacks a Host header field
  and to any request message that contains more than one Host header field line").
- A body with a Content-Encoding other than identity is refused with 415 naming the encoding,
  and `Accept-Encoding: identity` (RFC 9110 sections 15.5.16 and 12.5.3, from RFC 7694: a
  server that supports no content coding in requests answers so): the service does not decode
  compressed bodies, and reading one as an image or JSON would only give a misleading error.
- Every body goes through `BodyLimit`, and multipart forms through the strict parser.

Errors raised here are `ApiError`s: the app's handlers answer them in the route's error shape
and the request log line records them like any other.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request

from service.config import Settings
from service.errors import ApiError
from service.server.body_limit import BodyLimit, content_length
from service.server.multipart import StrictRequest

# Content codings registered with IANA that a client might send; any other value is not echoed.
_KNOWN_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "compress", "zstd", "aes128gcm"})


def init_app(app: Flask, settings: Settings) -> None:
    """Install the body limit, the strict multipart parser and the header checks."""
    app.request_class = StrictRequest
    app.wsgi_app = BodyLimit(app.wsgi_app, settings.max_body_bytes)  # type: ignore[method-assign]
    app.before_request(check_framing_headers)
    app.after_request(_name_accepted_encodings)


def check_framing_headers() -> None:
    """Refuse an HTTP/1.1 request without a single Host, or a body with a content coding."""
    environ = request.environ
    if environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
        host = environ.get("HTTP_HOST")
        if host is None:
            raise ApiError(400, "MISSING_HOST", "An HTTP/1.1 request needs a Host header.")
        if "," in host:  # Gunicorn joins repeated header lines with commas
            raise ApiError(400, "BAD_REQUEST", "The request has more than one Host header.")
    coding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if coding and coding != "identity" and _has_body(environ):
        shown = repr(coding) if coding in _KNOWN_CODINGS else "this"
        g.refused_content_encoding = True
        raise ApiError(
            415,
            "UNSUPPORTED_CONTENT_ENCODING",
            f"Content-Encoding {shown} is not supported: send the body uncompressed.",
        )


def _has_body(environ: dict[str, Any]) -> bool:
    return (content_length(environ) or 0) > 0 or "HTTP_TRANSFER_ENCODING" in environ


def _name_accepted_encodings(response: Response) -> Response:
    if g.get("refused_content_encoding"):
        response.headers["Accept-Encoding"] = "identity"
    return response

"""What may be logged of a request that Gunicorn's parser rejected: its request line with the
method kept only when it has a method's shape, odd path characters percent-encoded and every
query value redacted (service/logs.py's rules). The raw line is never kept."""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from gunicorn.http.message import Request

from service.logs import redacted_query

_METHOD = re.compile(r"[A-Z]{1,16}")
_VERSION = re.compile(r"HTTP/\d\.\d")
# What stays as it is in a logged path; anything else (a tab, a raw non-ASCII byte) is escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def is_open_inference_path(path: str) -> bool:
    """Whether `path` is under the Open Inference Protocol's /v2, whose errors are strings."""
    return path == "/v2" or path.startswith("/v2/")


@dataclass(frozen=True)
class RequestLine:
    """What may be logged of a rejected request line: a known-shape method, the path with odd
    characters escaped, the query with every value redacted (service/logs.py's rules)."""

    method: str = "-"
    path: str = "-"
    query: str = ""
    protocol: str | None = None

    def target(self) -> str:
        """The path and redacted query; empty when the path is unknown."""
        if self.path == "-":
            return ""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def is_open_inference(self) -> bool:
        return is_open_inference_path(self.path)


def request_line(req: Any, error: BaseException) -> RequestLine:
    """The redacted request line of a rejected request, from the parsed request if Gunicorn got
    that far, else from the raw line the error carries; empty when neither is known."""
    parsed = _parsed_request(req, error)
    if parsed is not None and getattr(parsed, "uri", None):
        version = getattr(parsed, "version", None)
        protocol = f"HTTP/{version[0]}.{version[1]}" if version else None
        return _redacted(getattr(parsed, "method", "-") or "-", parsed.uri, protocol)
    raw = getattr(error, "req", None)
    if isinstance(raw, str):  # InvalidRequestLine carries the line (or its target) as read
        tokens = raw.split()
        if len(tokens) >= 2:
            protocol = tokens[-1] if len(tokens) >= 3 and _VERSION.fullmatch(tokens[-1]) else None
            return _redacted(tokens[0], tokens[1], protocol)
        if tokens:
            return _redacted("-", tokens[0], None)
    return RequestLine()


def _parsed_request(req: Any, error: BaseException) -> Request | None:
    """The gunicorn Request being parsed: `req` when the worker has it; otherwise the one the
    error names, or the `self` of the parser frame that raised (header errors raised while the
    Request is being built reach handle_error with req=None, gunicorn/http/message.py)."""
    for candidate in (req, getattr(error, "req", None)):
        if isinstance(candidate, Request):
            return candidate
    for frame, _line in traceback.walk_tb(error.__traceback__):
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Request):
            return candidate
    return None


def _redacted(method: str, target: str, protocol: str | None) -> RequestLine:
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 section 3.2.2)
        try:
            parts = urlsplit(target)
        except ValueError:
            return RequestLine(_method(method), protocol=protocol)
        path, query = parts.path or "/", parts.query
    else:
        path, _, query = target.partition("#")[0].partition("?")
    if not path.startswith("/"):
        path = "-"
    return RequestLine(
        method=_method(method),
        path=quote(path, safe=_PATH_SAFE, encoding="latin-1", errors="replace")
        if path != "-"
        else path,
        query=redacted_query(query),
        protocol=protocol,
    )


def _method(method: str) -> str:
    return method if _METHOD.fullmatch(method) else "-"

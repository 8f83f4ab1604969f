"""One body limit for every framing, and malformed framing answered as a client error.

Werkzeug refuses a declared Content-Length over MAX_BODY_BYTES before reading (413), but a
chunked body has no declared length: Werkzeug's `LimitedStream` reads up to the limit and stops,
so the view gets a truncated body and answers as if it were whole (werkzeug/wsgi.py,
`get_input_stream`). And Gunicorn's chunked reader raises its own parse errors
(`InvalidChunkSize`, `ChunkMissingTerminator`, a bad trailer) into the view, where they become a
500. `BodyLimit` wraps `wsgi.input` below Werkzeug: it reads one byte past the limit to tell a
body of exactly MAX_BODY_BYTES from a longer one, and turns both cases into `ApiError`s (413
PAYLOAD_TOO_LARGE, 400 BAD_REQUEST) that the app's handlers answer in the route's error shape.

When the body is left unread, in error or not fully consumed (an oversize or refused chunked
body), the connection cannot carry another request: the answer says `Connection: close`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gunicorn.http.errors import NoMoreData, ParseException

from service.errors import ApiError
from service.server.rejections import classify

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class LimitedInput:
    """`wsgi.input` that raises ApiError 413 once more than `limit` bytes arrive, and ApiError
    400 for the server's framing errors; `at_end` once the body was read to its end."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._consumed = 0
        self.at_end = False
        self.failed: ApiError | None = None

    def read(self, size: int | None = -1) -> bytes:
        return self._guarded(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._guarded(self._stream.readline, size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _guarded(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if self.failed is not None:
            raise self.failed
        if size == 0:
            return b""
        room = self._limit - self._consumed + 1  # one byte past the limit tells "too long"
        wanted = room if size is None or size < 0 else min(size, room)
        try:
            data = reader(wanted)
            if data and self._consumed + len(data) == self._limit:
                # Exactly at the limit: Werkzeug will not ask for more, so look one byte ahead.
                extra = self._stream.read(1)
                data += extra
                self.at_end = not extra
        except (ParseException, NoMoreData) as error:
            rejection = classify(error)
            raise self._fail(
                ApiError(rejection.status, rejection.code, rejection.message)
            ) from None
        self._consumed += len(data)
        if self._consumed > self._limit:
            raise self._fail(too_large(self._limit))
        if not data:
            self.at_end = True
        return data

    def _fail(self, error: ApiError) -> ApiError:
        self.failed = error
        return error


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than {limit} bytes (MAX_BODY_BYTES).",
    )


class BodyLimit:
    """WSGI middleware: `wsgi.input` limited to `limit` bytes whatever the framing."""

    def __init__(self, app: WsgiApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = LimitedInput(environ["wsgi.input"], self.limit)
        environ["wsgi.input"] = body
        declared = content_length(environ)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            unusable = body.failed is not None or (chunked and not body.at_end)
            if unusable or (declared is not None and declared > self.limit):
                _force_close(start_response)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def content_length(environ: dict[str, Any]) -> int | None:
    """The declared Content-Length; None when absent or not a plain number."""
    raw = environ.get("CONTENT_LENGTH", "")
    return int(raw) if raw.isdigit() else None


def _force_close(start_response: StartResponse) -> None:
    """Make Gunicorn end the connection after this response. A WSGI app may not set a
    Connection header (PEP 3333: hop-by-hop headers are the server's; Gunicorn drops them,
    gunicorn/http/wsgi.py `Response.process_headers`): the start_response Gunicorn passes is
    its Response's bound method, whose `force_close()` makes it write `Connection: close` and
    not read the rest of the body as the next request. Under another server this does
    nothing."""
    response = getattr(start_response, "__self__", None)
    force_close = getattr(response, "force_close", None)
    if callable(force_close):
        force_close()

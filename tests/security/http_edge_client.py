"""Raw-socket HTTP/1.1 for the edge tests: send exact bytes, read every answer, and read the
request log lines the service wrote meanwhile (tests/security/test_http_edge.py,
tests/fuzz/test_protocol_fuzz.py)."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from tests.drills.http_clients import golden_png
from tests.gunicorn_process import GunicornProcess

# Test-only knob: the suite runs under the default worker class unless this names another
# (gthread), passed to the service as WORKER_CLASS.
WORKER_CLASS_VARIABLE = "HTTP_EDGE_WORKER_CLASS"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(
    port: int, raw: bytes, *, half_close: bool = True, timeout: float = 10
) -> list[Answer]:
    """Send `raw` on one connection and read answers until the server closes it. With
    `half_close` the client then shuts its write side, so a server waiting for more bytes sees
    the end of the stream instead of a silent client."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(raw)
            if half_close:
                connection.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before taking everything
            pass
        return read_answers(connection)


def read_answers(connection: socket.socket) -> list[Answer]:
    answers = []
    stream = connection.makefile("rb")
    try:
        while (answer := _read_answer(stream)) is not None:
            answers.append(answer)
    except (ConnectionResetError, TimeoutError):
        pass
    return answers


def _read_answer(stream: Any) -> Answer | None:
    status_line = stream.readline()
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


def request_lines(server: GunicornProcess, offset: int) -> list[dict[str, Any]]:
    """The request log lines (logger service.request) written after byte `offset` of the log."""
    with server.log_path.open("rb") as log:
        log.seek(offset)  # only what was written since: the log grows through the fuzz cases
        text = log.read().decode("utf-8", errors="replace")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        entry
        for entry in entries
        if entry.get("logging.googleapis.com/labels", {}).get("python_logger") == "service.request"
    ]


def wait_for_request_lines(
    server: GunicornProcess, offset: int, count: int, timeout: float = 2.0
) -> list[dict[str, Any]]:
    """The request lines after `offset`, once there are `count` of them (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    lines = request_lines(server, offset)
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        lines = request_lines(server, offset)
    return lines


def log_size(server: GunicornProcess) -> int:
    return server.log_path.stat().st_size


def chunked(*chunks: bytes, trailer: bytes = b"") -> bytes:
    """A well-formed chunked body of `chunks`."""
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk)
    return framed + b"0\r\n" + trailer + b"\r\n"


def png_bytes(index: int) -> bytes:
    """An official test image as PNG bytes."""
    return golden_png(index)[0]


def multipart(parts: list[tuple[str, bytes]], boundary: bytes = b"edge-boundary") -> bytes:
    body = b"".join(
        b'--%s\r\nContent-Disposition: form-data; name="%s"; filename="f.png"\r\n'
        b"Content-Type: image/png\r\n\r\n%s\r\n" % (boundary, name.encode(), data)
        for name, data in parts
    )
    return body + b"--%s--\r\n" % boundary

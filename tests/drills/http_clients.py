"""Plain-socket HTTP/1.1 clients for the drills: a request whose body is sent in parts, at the
pace the drill chooses, and the answer read until the server closes the connection."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from dataclasses import dataclass

from PIL import Image

from service.model import golden_samples


def golden_png(index: int) -> tuple[bytes, int]:
    """An official test image as PNG bytes, and its label."""
    images, labels = golden_samples()
    buffer = io.BytesIO()
    Image.fromarray(images[index]).save(buffer, "PNG")
    return buffer.getvalue(), int(labels[index])


def request_head(port: int, body_length: int, content_type: str = "image/png") -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {body_length}\r\nConnection: close\r\n\r\n"
    ).encode()


@dataclass
class Answer:
    """What came back on one connection: a status (None if none came) and the body."""

    status: int | None
    body: bytes = b""
    error: str | None = None


def read_answer(connection: socket.socket, timeout: float) -> Answer:
    """Read until the server closes the connection (the requests say Connection: close)."""
    connection.settimeout(timeout)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except OSError as error:  # reset by a killed worker, or no answer in time
        if not received:
            return Answer(None, error=f"{type(error).__name__}: {error}")
    if not received.startswith(b"HTTP/1.1 "):
        return Answer(None, error=f"closed without an answer ({received[:40]!r})")
    head, _, body = received.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), body)


def post_in_two_halves(
    port: int, body: bytes, go_on: threading.Event, started: threading.Barrier, timeout: float
) -> Answer:
    """POST `body`: the headers and its first half now, the rest once `go_on` is set."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        half = len(body) // 2
        connection.sendall(request_head(port, len(body)) + body[:half])
        started.wait(timeout)
        go_on.wait(timeout)
        try:
            connection.sendall(body[half:])
        except OSError as error:
            return Answer(None, error=f"{type(error).__name__}: {error}")
        return read_answer(connection, timeout)


class Trickler:
    """Connections that send their headers, then their body one byte every `interval` seconds
    (a body far longer than the drill lasts), until `stop()`; each socket is left open."""

    def __init__(self, port: int, connections: int, interval: float) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
        for connection in self.sockets:
            connection.sendall(request_head(port, 100_000))
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stopped.wait(self._interval):
            for connection in self.sockets:
                with contextlib.suppress(OSError):  # the server gave up on it: the point
                    connection.send(b"\x00")

    def seconds_until_each_is_released(self, timeout: float) -> list[float | None]:
        """For each connection, seconds from now until the server answered or closed it
        (None: still held after `timeout`)."""
        started = time.monotonic()
        released: list[float | None] = []
        for connection in self.sockets:
            remaining = max(0.01, timeout - (time.monotonic() - started))
            connection.settimeout(remaining)
            try:
                connection.recv(1)  # an answer's first byte, or b"" when closed
            except TimeoutError:
                released.append(None)
                continue
            except OSError:
                pass  # reset: released too
            released.append(time.monotonic() - started)
        return released

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        for connection in self.sockets:
            connection.close()

"""An open-model HTTP load generator: requests start on a fixed schedule, not when answers come.

    python -m benchmarks.loadgen --url http://127.0.0.1:8080/predict --rate 500 --duration 5 \\
        --body image.png --content-type image/png

Request i is due at start + i / rate, whatever happened to the earlier ones (wrk2's model). It
goes out on an idle keep-alive connection of a fixed pool; its latency runs from the instant it
was due, not from when it was sent, so a queue in front of a slow server counts in full (no
coordinated omission). Latencies go into an HdrHistogram (1 us to 60 s, 3 significant digits).

One asyncio loop on raw sockets keeps the generator's own cost per request low (it shares the
machine with the server); its CPU time is measured and reported, so the reader can judge it.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

WARMUP_SECONDS = 1.0
DRAIN_SECONDS = 2.0
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        self._body_end: int | None = None
        self._status = 0
        self.reusable = True  # False once the server said "Connection: close" or hung up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError("closed before the answer"))
        if not self.closed.done():
            self.closed.set_result(None)

    def request(self, payload: bytes) -> asyncio.Future[int]:
        """Send `payload` (a whole request); the future gets the answer's status code."""
        self._answer = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._body_end = None
        self.transport.write(payload)  # type: ignore[union-attr]  (set once connected)
        return self._answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._body_end is None:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self._buffer[:head_end]).lower()
            self._status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
                elif line.startswith(b"connection:") and b"close" in line:
                    self.reusable = False  # e.g. a worker about to restart (max_requests)
            self._body_end = head_end + 4 + length
        if len(self._buffer) >= self._body_end and self._answer and not self._answer.done():
            self._answer.set_result(self._status)


@dataclass
class Run:
    """What one run scheduled, what came back, and when."""

    rate: float
    duration: float
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, 60_000_000, 3))
    scheduled: int = 0
    completed: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class LoadGenerator:
    def __init__(self, url: str, payload_body: bytes, content_type: str, connections: int):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"{url}: this generator only sends to the loopback interface")
        self.payload = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload_body)}\r\n\r\n"
        ).encode() + payload_body
        self.size = connections
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await self._connect())

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(Connection, self.host, self.port)
        return connection

    async def _one(self, run: Run, due: float, record: bool) -> None:
        connection = await self.idle.get()
        if not connection.reusable:  # closed while idle: a client would reconnect, so do we
            connection.transport.close()  # type: ignore[union-attr]
            connection = await self._connect()
        try:
            status = await connection.request(self.payload)
        except ConnectionError:
            run.errors += record
            connection = await self._connect()
        else:
            if record:
                run.completed += 1
                run.statuses[status] = run.statuses.get(status, 0) + 1
                if status != 200:
                    run.errors += 1
                latency_us = max(1, int((time.monotonic() - due) * 1e6))
                run.histogram.record_value(min(latency_us, 60_000_000))
        finally:
            self.idle.put_nowait(connection)

    async def run(self, rate: float, duration: float, warmup: float) -> Run:
        """Send at `rate` per second for warmup + duration seconds; record after the warm-up."""
        run = Run(rate, duration)
        started = time.monotonic()
        measured_from = started + warmup
        total = int((warmup + duration) * rate)
        tasks = set()
        for index in range(total):
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            record = due >= measured_from
            run.scheduled += record
            task = asyncio.create_task(self._one(run, due, record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:  # what is still queued or in flight after the schedule ends, briefly
            await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
            for task in tasks:
                task.cancel()
        return run


def summary(run: Run, cpu_seconds: float, wall_seconds: float) -> dict[str, Any]:
    histogram = run.histogram
    latency = {
        f"p{percentile:g}_ms": histogram.get_value_at_percentile(percentile) / 1000
        for percentile in PERCENTILES
    }
    latency["max_ms"] = histogram.get_max_value() / 1000
    latency["mean_ms"] = round(histogram.get_mean_value() / 1000, 3)
    return {
        "target_rate": run.rate,
        "duration_s": run.duration,
        "scheduled": run.scheduled,
        "completed": run.completed,
        "achieved_rate": round(run.completed / run.duration, 1),
        "errors": run.errors,
        "statuses": {str(code): count for code, count in sorted(run.statuses.items())},
        "latency": latency,
        "generator_cpu_cores": round(cpu_seconds / wall_seconds, 3),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    generator = LoadGenerator(args.url, args.body.read_bytes(), args.content_type, args.connections)
    await generator.open()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.monotonic()
    run = await generator.run(args.rate, args.duration, args.warmup)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return summary(run, cpu, time.monotonic() - wall_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback only)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS, help="unmeasured seconds")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive pool size")
    parser.add_argument("--body", type=Path, required=True, help="file sent as the body")
    parser.add_argument("--content-type", default="application/octet-stream")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.connections < 1:
        parser.error("--rate, --duration and --connections must be positive")
    print(json.dumps(asyncio.run(main_async(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A wrk-like closed-loop load: N keep-alive connections, each sending its next request as soon
as the previous answer is in. The load is fixed by the connection count, not by a rate, so every
server runs with all its workers busy, as in the issue's wrk runs.

    python -m benchmarks.closed_loop --url http://127.0.0.1:PORT/predict \\
        --connections 16 --warmup 1 --duration 5 --body image.png --content-type image/png

Prints one line `{"measuring": [client ports]}` when the measured window starts (the caller
then snapshots the server's CPU and maps each port to the worker holding its other end), and one
JSON summary at the end: answers and errors in the window, answers per client port, latency
percentiles (HdrHistogram, every answer in the window) and the generator's own CPU. A connection
the server closes is reopened (and counted). Loopback only. The peer comparison
(benchmarks/peers/), the two-tier figures (two_tier.py) and the worker spread (worker_spread.py)
all drive their servers with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

from benchmarks.loadgen import PERCENTILES

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Loop:
    """The shared state of one run: what to send, when to count, what came back."""

    def __init__(self, host: str, port: int, payload: bytes) -> None:
        self.host, self.port, self.payload = host, port, payload
        self.counting = False
        self.stop = False
        self.answers: dict[int, int] = {}  # client port -> answers in the window
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.reconnects = 0
        self.latency = HdrHistogram(1, 60_000_000, 3)  # microseconds


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer with a Content-Length body; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _connection(loop: Loop, opened: asyncio.Queue[int]) -> None:
    reader, writer = await asyncio.open_connection(loop.host, loop.port)
    port = writer.get_extra_info("sockname")[1]
    opened.put_nowait(port)
    while not loop.stop:
        try:
            sent = time.monotonic()
            writer.write(loop.payload)
            status = await _answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            loop.errors += loop.counting
            loop.reconnects += 1
            writer.close()
            reader, writer = await asyncio.open_connection(loop.host, loop.port)
            port = writer.get_extra_info("sockname")[1]
            continue
        if loop.counting:
            loop.answers[port] = loop.answers.get(port, 0) + 1
            loop.statuses[status] = loop.statuses.get(status, 0) + 1
            loop.errors += status != 200
            loop.latency.record_value(min(60_000_000, max(1, int((time.monotonic() - sent) * 1e6))))
    writer.close()


def command(
    url: str,
    body: Path,
    connections: int,
    warmup: float,
    duration: float,
    content_type: str = "image/png",
) -> list[str]:
    """The command line that runs this generator (run it from the repository root)."""
    return [
        *(sys.executable, "-m", "benchmarks.closed_loop", "--url", url),
        *("--connections", str(connections), "--warmup", str(warmup)),
        *("--duration", str(duration), "--body", str(body), "--content-type", content_type),
    ]


async def run(args: argparse.Namespace) -> None:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in LOOPBACK:
        raise SystemExit(f"{args.url}: this generator only sends to the loopback interface")
    body = args.body.read_bytes()
    payload = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {args.content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = Loop(host, port, payload)
    opened: asyncio.Queue[int] = asyncio.Queue()
    tasks = [asyncio.create_task(_connection(loop, opened)) for _ in range(args.connections)]
    ports = [await opened.get() for _ in range(args.connections)]
    await asyncio.sleep(args.warmup)
    print(json.dumps({"measuring": ports}), flush=True)
    cpu_before = _cpu_seconds()
    started = time.monotonic()
    loop.counting = True
    await asyncio.sleep(args.duration)
    loop.counting = False
    wall = time.monotonic() - started
    cpu = _cpu_seconds() - cpu_before
    completed = sum(loop.answers.values())
    summary = {
        "connections": args.connections,
        "duration_s": round(wall, 3),
        "completed": completed,
        "requests_per_s": round(completed / wall, 1),
        "errors": loop.errors,
        "reconnects": loop.reconnects,
        "statuses": {str(code): count for code, count in sorted(loop.statuses.items())},
        "answers_by_client_port": {str(port): count for port, count in loop.answers.items()},
        "latency": {
            f"p{p:g}_ms": loop.latency.get_value_at_percentile(p) / 1000 for p in PERCENTILES
        },
        "generator_cpu_cores": round(cpu / wall, 3),
    }
    # Printed before the connections wind down: the caller's CPU snapshot ends the window.
    print(json.dumps(summary), flush=True)
    loop.stop = True
    await asyncio.wait(tasks, timeout=5)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback only)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--body", type=Path, required=True, help="file sent as the body")
    parser.add_argument("--content-type", default="application/octet-stream")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--connections and --duration must be positive, --warmup not negative")
    try:
        import uvloop  # the bench extra has it: a cheaper generator leaves more CPU to servers
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A closed-loop HTTP load generator (wrk's model): N keep-alive connections, each sending its
next request as soon as the previous answer is in, so exactly N requests are in flight.

    python -m benchmarks.closed_loop --url http://127.0.0.1:8080/predict --connections 80 \\
        --duration 5 --body image.png --content-type image/png

Prints one JSON object: requests and statuses per connection, with each connection's local
port, so that a caller can tell which server worker owned which connection (worker_spread.py),
and the latency percentiles of the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from benchmarks.loadgen import PERCENTILES, Connection, LoadGenerator


async def _drive(
    generator: LoadGenerator, connection: Connection, until: float, record: Any
) -> list[dict[str, Any]]:
    """Requests back to back until `until`; one tally per socket used (a reconnect opens
    another, with another local port)."""

    def port() -> int:
        return connection.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]

    tally = {"local_port": port(), "requests": 0, "errors": 0}
    tallies = [tally]
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            status = await connection.request(generator.payload)
        except ConnectionError:
            tally["errors"] += 1
            connection = await generator._connect()
            tally = {"local_port": port(), "requests": 0, "errors": 0}
            tallies.append(tally)
            continue
        tally["requests"] += 1
        tally["errors"] += status != 200
        record(time.monotonic() - started)
        if not connection.reusable:
            connection.transport.close()  # type: ignore[union-attr]
            connection = await generator._connect()
            tally = {"local_port": port(), "requests": 0, "errors": 0}
            tallies.append(tally)
    connection.transport.close()  # type: ignore[union-attr]
    return tallies


async def run(url: str, body: bytes, content_type: str, connections: int, duration: float):
    generator = LoadGenerator(url, body, content_type, connections)
    opened = [await generator._connect() for _ in range(connections)]
    histogram = HdrHistogram(1, 60_000_000, 3)

    def record(seconds: float) -> None:
        histogram.record_value(min(60_000_000, max(1, int(seconds * 1e6))))

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    per_connection = await asyncio.gather(
        *(_drive(generator, c, started + duration, record) for c in opened)
    )
    tallies = [tally for sockets in per_connection for tally in sockets]
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    total = sum(t["requests"] for t in tallies)
    latency = {f"p{p:g}_ms": histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    return {
        "connections": connections,
        "duration_s": round(wall, 3),
        "requests": total,
        "errors": sum(t["errors"] for t in tallies),
        "rate": round(total / wall, 1),
        "latency": latency,
        "generator_cpu_cores": round(cpu / wall, 3),
        "per_connection": tallies,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback only)")
    parser.add_argument("--connections", type=int, default=16, help="requests in flight")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--body", type=Path, required=True, help="file sent as the body")
    parser.add_argument("--content-type", default="application/octet-stream")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0:
        parser.error("--connections and --duration must be positive")
    result = asyncio.run(
        run(args.url, args.body.read_bytes(), args.content_type, args.connections, args.duration)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How evenly the kernel spreads keep-alive connections, and so requests, over the workers
(reuse_port: each worker has its own SO_REUSEPORT socket).

    python -m benchmarks.worker_spread [--runs 3] [--seconds 4]

The service with the embedded backend and two workers, driven by a closed loop over 16 and
over 200 keep-alive connections (benchmarks/closed_loop.py, wrk's model). Mid-run, each
connection is matched to the worker holding its server end (psutil, by port), so the figures
are exact: requests and connections per worker, and the largest share one worker took.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import closed_loop
from benchmarks.server import REPO_ROOT, SERVICE_APP, GunicornServer

CONNECTION_COUNTS = (16, 200)
SHARE_LIMIT = 0.6  # issue 14: no run puts more than 60% of the requests on one of two workers


def one_run(server: GunicornServer, png: Path, connections: int, seconds: float) -> dict[str, Any]:
    command = closed_loop.command(f"{server.url}/predict", png, connections, 0, seconds)
    generator = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    time.sleep(seconds / 2)
    owned = server.worker_of_client_ports()
    output, _ = generator.communicate(timeout=seconds + 60)
    result = json.loads(output.splitlines()[-1])  # the summary follows the "measuring" line
    requests: dict[int, int] = {}
    held: dict[int, int] = {}
    unmatched = 0
    for client_port, answers in result["answers_by_client_port"].items():
        pid = owned.get(int(client_port))
        if pid is None:
            unmatched += answers
            continue
        requests[pid] = requests.get(pid, 0) + answers
        held[pid] = held.get(pid, 0) + 1
    total = max(1, sum(requests.values()))
    return {
        "connections": connections,
        "rate": result["requests_per_s"],
        "requests_per_worker": sorted(requests.values(), reverse=True),
        "connections_per_worker": sorted(held.values(), reverse=True),
        "max_request_share": round(max(requests.values(), default=0) / total, 3),
        "unmatched_requests": unmatched,
    }


def spread_figures(png: Path, directory: Path, runs: int, seconds: float) -> dict[str, Any]:
    """`runs` runs per connection count, each on a freshly started server (a fresh spread)."""
    results: dict[str, list[dict[str, Any]]] = {}
    for connections in CONNECTION_COUNTS:
        for run in range(runs):
            log = directory / f"spread-{connections}-{run}.log"
            # CONCURRENCY above the connections: every request in flight is served, none is
            # refused for the instance's bound (Cloud Run would not send more than it).
            environ = {"WEB_CONCURRENCY": "2", "CONCURRENCY": str(2 * connections)}
            with GunicornServer(SERVICE_APP, log, None, environ) as server:
                server.seconds_to_first_success("/predict", png.read_bytes(), "image/png")
                server.wait_for_workers(2)
                figures = one_run(server, png, connections, seconds)
            print(
                f"    {connections} connections: requests per worker "
                f"{figures['requests_per_worker']}, connections {figures['connections_per_worker']}"
                f", max share {figures['max_request_share']:.0%}",
                flush=True,
            )
            results.setdefault(str(connections), []).append(figures)
    worst = max(f["max_request_share"] for runs_ in results.values() for f in runs_)
    return {
        "workers": 2,
        "runs": results,
        "max_request_share": worst,
        "within_limit": worst <= SHARE_LIMIT,
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import sample_png

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per connection count")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spread-") as scratch:
        png = sample_png(Path(scratch))
        figures = spread_figures(png, Path(scratch), args.runs, args.seconds)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

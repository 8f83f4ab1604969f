"""Two-tier figures: the service with BACKEND=vertex, one worker, in front of the wire-level
Vertex AI fake (fakes/vertex_server.py) answering after 100 ms.

    python -m benchmarks.two_tier [--quick] [--compare-workers] [--json FILE]

- the maximum sustainable arrival rate at p99 < 200 ms (open model, benchmarks/loadgen.py);
- with CONCURRENCY (80) requests in flight (closed loop, benchmarks/closed_loop.py): the
  server's CPU-ms per request, the worker's resident memory, and how long `GET /` and
  `GET /ready` take meanwhile.
`--compare-workers` runs the same for gunicorn's gthread worker with 4 and with 80 threads,
next to the gevent worker the configuration uses (README "Sizing" quotes the figures).
`python -m benchmarks` runs the default (gevent) set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import closed_loop, endtoend
from benchmarks.server import REPO_ROOT, SERVICE_APP, GunicornServer
from loadtest.two_tier import LocalVertexFake

UPSTREAM_LATENCY_MS = 100
CONCURRENCY = 80
LATENCY_CEILING_MS = 200.0
# Worker models compared by --compare-workers: name -> the service's environment for it.
WORKER_MODELS = {
    "gevent": {"WORKER_CLASS": "gevent"},
    "gthread-4": {"WORKER_CLASS": "gthread", "THREADS": "4"},
    "gthread-80": {"WORKER_CLASS": "gthread", "THREADS": "80"},
}


def service_environment(grpc_port: int, worker: dict[str, str] | None = None) -> dict[str, str]:
    environ = {
        "BACKEND": "vertex",
        "PROJECT_ID": "benchmark",
        "ENDPOINT_ID": "1234567890",
        "VERTEX_API_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "WEB_CONCURRENCY": "1",
        "CONCURRENCY": str(CONCURRENCY),
    }
    return {**environ, **(worker or {})}


def get_latency_ms(port: int, path: str, timeout: float = 5.0) -> float | None:
    """Milliseconds for GET path on a fresh connection; None if it failed or timed out."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            return None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return (time.monotonic() - started) * 1000


def in_flight_figures(
    server: GunicornServer, png: Path, seconds: float, in_flight: int = CONCURRENCY
) -> dict[str, Any]:
    """`in_flight` requests held by a closed loop: CPU per request, RSS, health latency."""
    command = closed_loop.command(f"{server.url}/predict", png, in_flight, 0, seconds)
    cpu_before = server.cpu_seconds()
    generator = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    health: dict[str, list[float | None]] = {"/": [], "/ready": []}
    memory: list[float] = []
    end = time.monotonic() + seconds
    time.sleep(min(1.0, seconds / 4))  # the loop has opened its connections and is running
    while time.monotonic() < end - 0.3:
        for path in health:
            health[path].append(get_latency_ms(server.port, path))
        memory += [size["rss"] for size in server.worker_memory_mb()]
        time.sleep(0.2)
    output, _ = generator.communicate(timeout=seconds + 60)
    result = json.loads(output.splitlines()[-1])  # the summary follows the "measuring" line
    cpu = server.cpu_seconds() - cpu_before
    answered = [value for values in health.values() for value in values]
    return {
        "in_flight": in_flight,
        "rate": result["requests_per_s"],
        "errors": result["errors"],
        "latency": result["latency"],
        "server_cpu_ms_per_request": round(cpu * 1000 / max(1, result["completed"]), 3),
        "worker_rss_mb_max": max(memory) if memory else None,
        "health_checks": len(answered),
        "health_failed": sum(value is None for value in answered),
        "health_max_ms": round(max((v for v in answered if v is not None), default=0.0), 1),
        "generator_cpu_cores": result["generator_cpu_cores"],
    }


def measure(
    png: Path, directory: Path, grpc_port: int, quick: bool, name: str = "gevent"
) -> dict[str, Any]:
    settings = endtoend.LoadSettings(
        step_seconds=1.5 if quick else 3.0,
        latency_ceiling_ms=LATENCY_CEILING_MS,
        connections=CONCURRENCY + 20,  # the generator never runs out of connections first
    )
    environ = service_environment(grpc_port, WORKER_MODELS[name])
    with GunicornServer(SERVICE_APP, directory / f"two-tier-{name}.log", None, environ) as server:
        server.seconds_to_first_success("/predict", png.read_bytes(), "image/png")
        endtoend.warm_up(server, png, "image/png", settings)
        print(f"  two-tier ({name}): stepping the arrival rate up", flush=True)
        search = endtoend.find_max_sustainable_rate(server, png, "image/png", settings)
        print(f"  two-tier ({name}): {CONCURRENCY} requests in flight", flush=True)
        held = in_flight_figures(server, png, 4.0 if quick else 10.0)
        print(f"    {describe_in_flight(held)}", flush=True)
    return {
        "worker_model": name,
        "max_sustainable": search.max_sustainable,
        "steps": search.steps,
        "in_flight": held,
    }


def describe_in_flight(held: dict[str, Any]) -> str:
    return (
        f"{held['in_flight']} in flight: {held['rate']:.0f}/s, p99 {held['latency']['p99_ms']:.0f}"
        f" ms, {held['server_cpu_ms_per_request']:.3f} CPU-ms/request, RSS "
        f"{held['worker_rss_mb_max']} MB, health max {held['health_max_ms']} ms "
        f"({held['health_failed']} of {held['health_checks']} failed)"
    )


def two_tier_figures(png: Path, directory: Path, quick: bool, compare: bool) -> dict[str, Any]:
    """Every worker model asked for, against one fake answering after 100 ms."""
    models = list(WORKER_MODELS) if compare else ["gevent"]
    with LocalVertexFake(directory / "vertex-fake.log", UPSTREAM_LATENCY_MS) as fake:
        runs = {name: measure(png, directory, fake.grpc_port, quick, name) for name in models}
    return {
        "upstream_latency_ms": UPSTREAM_LATENCY_MS,
        "concurrency": CONCURRENCY,
        "workers": 1,
        "physical_limit_per_s": CONCURRENCY * 1000 // UPSTREAM_LATENCY_MS,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import sample_png

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--compare-workers", action="store_true", help="gthread runs too")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="two-tier-") as scratch:
        png = sample_png(Path(scratch))
        figures = two_tier_figures(png, Path(scratch), args.quick, args.compare_workers)
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def render_rows(two_tier: dict[str, Any], spread: dict[str, Any] | None) -> list[str]:
    """Lines for `python -m benchmarks`' table: the two-tier figures and the worker spread."""
    lines = []
    for name, run in two_tier["runs"].items():
        best = run["max_sustainable"]
        rate = f"{best['achieved_rate']:.0f} req/s" if best else "none"
        lines.append(
            f"two-tier ({name}, 1 worker, {two_tier['upstream_latency_ms']} ms upstream): max "
            f"sustainable at p99 < {LATENCY_CEILING_MS:.0f} ms: {rate} (target >= 300; "
            f"physical limit {two_tier['physical_limit_per_s']}/s)"
        )
        lines.append(f"  {describe_in_flight(run['in_flight'])}")
    if spread:
        for connections, runs in spread["runs"].items():
            shares = ", ".join(f"{run['max_request_share']:.0%}" for run in runs)
            lines.append(
                f"worker spread, {connections} keep-alive connections over 2 workers: largest "
                f"request share per run {shares} (target <= 60%)"
            )
    return lines

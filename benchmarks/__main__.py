"""`python -m benchmarks` (what `nox -s bench` runs): every figure of the service's performance.

    python -m benchmarks [--quick] [--pin] [--json benchmarks/results/latest.json]
    python -m benchmarks --peers [--quick] [--rounds 3] [--connections 16,200]

(a) NumPy inference latency, single image and batch of 64 (benchmarks/inference.py);
(b) end-to-end POST /predict on 127.0.0.1 under Gunicorn with service/gunicorn.conf.py, at fixed
    arrival rates (benchmarks/loadgen.py, an open-model generator), next to a minimal Flask route
    under the same configuration (benchmarks/minimal_app.py): maximum sustainable rate of each,
    their ratio, and latency percentiles at half the maximum;
(c) cold start: process start to the first successful prediction;
(d) resident memory per worker after warm-up and after load;
(e) the container image's size when an engine and the image are present;
(f) two-tier: BACKEND=vertex, one worker, in front of the Vertex AI fake answering after
    100 ms: max sustainable rate, CPU and memory with 80 in flight (benchmarks/two_tier.py);
(g) the spread of requests over two workers, 16 and 200 keep-alive connections
    (benchmarks/worker_spread.py).

`--peers` runs only the peer comparison instead (benchmarks/peers/run.py): server CPU per
prediction of the service, a bare Flask app, a FastAPI + uvicorn app and the minimal route, in
alternating rounds, with the spread of requests over each server's 2 workers.

The load generator shares the machine with the server. By default nothing is pinned and the
generator's own CPU use is reported next to each figure; --pin puts the generator on the last
CPU and the server on the others (Gunicorn then sizes its workers to those). The server's CPU
time per request is reported too: a throughput measure the generator cannot distort.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import endtoend, profile, report, two_tier, worker_spread
from benchmarks.server import MINIMAL_APP, REPO_ROOT, SERVICE_APP, GunicornServer

DEFAULT_JSON = REPO_ROOT / "benchmarks" / "results" / "latest.json"
TARGETS = {"throughput_ratio": 0.4, "p99_ms": 25.0, "cold_start_s": 1.5, "rss_mb": 100.0}


def sample_png(directory: Path) -> Path:
    """An official test image (the first golden sample) as the PNG every request sends."""
    from PIL import Image

    from service.model import golden_samples

    images, _ = golden_samples()
    path = directory / "sample.png"
    Image.fromarray(images[0]).save(path, "PNG")
    return path


def inference_figures(quick: bool, directory: Path) -> list[dict[str, Any]]:
    """Run benchmarks/inference.py in its own process (it pins BLAS before importing NumPy)."""
    output = directory / "inference.json"
    runs = ["--single-runs", "500", "--batch-runs", "50"] if quick else []
    command = [sys.executable, "-m", "benchmarks.inference", "--json", str(output), *runs]
    subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=600, capture_output=True)
    return json.loads(output.read_text())["results"]


def cold_starts(
    body: bytes, repeats: int, directory: Path, cpus: set[int] | None, environ: dict[str, str]
) -> list[float]:
    seconds = []
    for attempt in range(repeats):
        server = GunicornServer(SERVICE_APP, directory / f"cold-{attempt}.log", cpus, environ)
        with server:
            seconds.append(server.seconds_to_first_success("/predict", body, "image/png"))
    return seconds


def end_to_end(
    png: Path,
    settings: endtoend.LoadSettings,
    directory: Path,
    cpus: set[int] | None,
    environ: dict[str, str],
) -> dict[str, Any]:
    default_workers = len(cpus) if cpus else len(os.sched_getaffinity(0))
    workers = int(environ.get("WEB_CONCURRENCY", default_workers))
    results = {}
    for name, app in (("minimal", MINIMAL_APP), ("predict", SERVICE_APP)):
        with GunicornServer(app, directory / f"{name}.log", cpus, environ) as server:
            server.seconds_to_first_success("/predict", png.read_bytes(), "image/png")
            results[name] = endtoend.benchmark_app(
                name, server, png, "image/png", settings, workers
            )
    minimal, predict = results["minimal"], results["predict"]
    if minimal["max_sustainable"] and predict["max_sustainable"]:
        ratio = predict["max_sustainable"]["achieved_rate"] / max(
            1.0, minimal["max_sustainable"]["achieved_rate"]
        )
        results["ratio_predict_to_minimal"] = round(ratio, 3)
    else:
        results["ratio_predict_to_minimal"] = None
    if minimal["half_rate"] and predict["half_rate"]:
        results["cpu_ratio_minimal_to_predict"] = round(
            minimal["half_rate"]["server_cpu_ms_per_request"]
            / max(1e-9, predict["half_rate"]["server_cpu_ms_per_request"]),
            3,
        )
    else:
        results["cpu_ratio_minimal_to_predict"] = None
    return results


def verdicts(figures: dict[str, Any]) -> dict[str, bool | None]:
    e2e = figures["end_to_end"]
    half = e2e["predict"]["half_rate"]
    ratio = e2e["ratio_predict_to_minimal"]
    return {
        "throughput_ratio": None if ratio is None else ratio >= TARGETS["throughput_ratio"],
        "p99_at_half_rate": None if not half else half["latency"]["p99_ms"] <= TARGETS["p99_ms"],
        "cold_start": figures["cold_start_s"]["median"] <= TARGETS["cold_start_s"],
        "rss": figures["worker_rss_mb_max"] <= TARGETS["rss_mb"],
    }


def run_peers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from benchmarks.peers import run

    try:
        counts = [int(count) for count in args.connections.split(",")]
    except ValueError:
        parser.error(f"--connections {args.connections!r}: expected numbers like 16,200")
    if any(count < 1 for count in counts) or (args.rounds is not None and args.rounds < 1):
        parser.error("--connections and --rounds must be at least 1")
    if args.baseline and not (args.baseline / "service" / "gunicorn.conf.py").is_file():
        parser.error(f"--baseline {args.baseline}: no service/gunicorn.conf.py there")
    json_path = args.json if args.json != DEFAULT_JSON else run.DEFAULT_JSON
    return run.main(
        quick=args.quick,
        rounds=args.rounds,
        duration=args.duration,
        connection_counts=counts,
        json_path=json_path,
        baseline=args.baseline,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness")
    parser.add_argument("--pin", action="store_true", help="generator on the last CPU")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument("--image", help="image tag to size (default: the container session's)")
    parser.add_argument("--cold-starts", type=int, default=3, help="cold start repetitions")
    parser.add_argument(
        "--latency-ceiling-ms", type=float, default=200.0, help="p99 above it: not sustained"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the predict workers at half rate"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for every Gunicorn started, e.g. THREADS=2 (repeatable)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="only the peer comparison (benchmarks/peers/): service, bare Flask, FastAPI, minimal",
    )
    parser.add_argument("--rounds", type=int, help="--peers: alternating rounds (default 3)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="--peers: also run the service from this checkout (e.g. a git worktree of main)",
    )
    parser.add_argument("--duration", type=float, help="--peers: measured seconds per run")
    parser.add_argument(
        "--connections",
        default="16,200",
        help="--peers: keep-alive connection counts, comma-separated (default 16,200)",
    )
    parser.add_argument("--skip-two-tier", action="store_true", help="leave out (f) and (g)")
    args = parser.parse_args(argv)
    if args.peers:
        return run_peers(parser, args)
    if args.profile and profile.py_spy() is None:
        parser.error("--profile needs py-spy (pip install -c constraints.txt py-spy)")
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    server_environ = dict(item.split("=", 1) for item in args.server_env)

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = set(cpus[:-1]) if args.pin and len(cpus) > 1 else None
    settings = endtoend.LoadSettings(
        step_seconds=1.5 if args.quick else 3.0,
        half_rate_seconds=3.0 if args.quick else 10.0,
        latency_ceiling_ms=args.latency_ceiling_ms,
        generator_cpus={cpus[-1]} if server_cpus else None,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        directory = Path(scratch)
        settings.profile_dir = directory if args.profile else None
        png = sample_png(directory)
        print("(a) inference latency (benchmarks/inference.py)", flush=True)
        inference = inference_figures(args.quick, directory)
        print("(c) cold start", flush=True)
        cold = cold_starts(
            png.read_bytes(), args.cold_starts, directory, server_cpus, server_environ
        )
        print("(b, d) end to end at fixed arrival rates", flush=True)
        e2e = end_to_end(png, settings, directory, server_cpus, server_environ)
        tiers = spread = None
        if not args.skip_two_tier:
            print("(f) two-tier, in front of the Vertex AI fake", flush=True)
            tiers = two_tier.two_tier_figures(png, directory, args.quick, compare=False)
            print("(g) requests per worker", flush=True)
            spread = worker_spread.spread_figures(png, directory, 1 if args.quick else 3, 4.0)
    memory = [
        size["rss"] for sizes in e2e["predict"]["worker_memory_mb"].values() for size in sizes
    ]
    figures: dict[str, Any] = {
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": report.machine(),
        "pinning": (
            f"server on CPUs {sorted(server_cpus)}, generator on CPU {cpus[-1]}"
            if server_cpus
            else "none: server and generator share every CPU (generator CPU reported)"
        ),
        "server_environment": server_environ,
        "inference": inference,
        "end_to_end": e2e,
        "cold_start_s": {
            "runs": [round(value, 3) for value in cold],
            "median": round(statistics.median(cold), 3),
            "max": round(max(cold), 3),
        },
        "worker_rss_mb_max": max(memory) if memory else 0.0,
        "image": report.image_sizes(args.image),
        "two_tier": tiers,
        "worker_spread": spread,
        "load_settings": {
            "step_seconds": settings.step_seconds,
            "half_rate_seconds": settings.half_rate_seconds,
            "latency_ceiling_ms": settings.latency_ceiling_ms,
            "connections": settings.connections,
        },
        "targets": {},
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    figures["targets"] = verdicts(figures)
    print()
    print(report.render_table(figures))
    if tiers is not None:
        print("\n".join(two_tier.render_rows(tiers, spread)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nmachine: {figures['machine']}\npinning: {figures['pinning']}\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

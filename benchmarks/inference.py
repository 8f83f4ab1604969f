"""NumPy inference latency of the embedded model on ONE core: single image and batch of 64.

    python -m benchmarks.inference [--single-runs 3000] [--batch-runs 300]
                                   [--json reports/inference.json]

BLAS is pinned to one thread through the environment before NumPy is imported (and through
threadpoolctl as well when it is installed, which also reports which OpenBLAS kernel runs).
Images are official test images (the golden samples committed with the model, plus the test set
when it is installed). Prints a table; writes the figures as JSON. A benchmark, not a test: it
never fails on a slow figure, it reports it next to the target.
"""

# ruff: noqa: E402  (the thread pinning below must happen before NumPy is imported)
from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from service.model import golden_samples, load_classifier
from service.model.dataset import DatasetMissingError, load_split

TARGET_MS = {"single image": 0.5, "batch of 64": 10.0}
BATCH = 64


def blas_info() -> dict[str, Any]:
    """Pin BLAS to one thread (again, at runtime) and describe it; needs threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return {"note": "pip install threadpoolctl to see the BLAS kernel"}
    threadpool_limits(1)
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return {
        "library": pools[0].get("internal_api") if pools else None,
        "version": pools[0].get("version") if pools else None,
        "kernel": pools[0].get("architecture") if pools else None,
        "threads": pools[0].get("num_threads") if pools else None,
    }


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openblas_env": {
            name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        },
    }


def benchmark_images() -> np.ndarray:
    """float32 test images in [0, 1]: the test set if installed, else the golden samples."""
    try:
        images, _ = load_split("test")
    except DatasetMissingError:
        images, _ = golden_samples()
    return images.astype(np.float32) / 255.0


def time_calls(call: Callable[[int], object], runs: int, warmup: int) -> np.ndarray:
    """Wall-clock milliseconds of each call(i) after `warmup` untimed calls."""
    for index in range(warmup):
        call(index)
    durations = np.empty(runs)
    for index in range(runs):
        started = time.perf_counter_ns()
        call(index)
        durations[index] = (time.perf_counter_ns() - started) / 1e6
    return durations


def summarize(name: str, durations: np.ndarray, images_per_call: int) -> dict[str, Any]:
    median = float(np.median(durations))
    return {
        "case": name,
        "runs": len(durations),
        "median_ms": round(median, 4),
        "p90_ms": round(float(np.percentile(durations, 90)), 4),
        "p99_ms": round(float(np.percentile(durations, 99)), 4),
        "min_ms": round(float(durations.min()), 4),
        "images_per_second": round(images_per_call * 1000 / median),
        "target_median_ms": TARGET_MS[name],
        "within_target": median <= TARGET_MS[name],
    }


def render_table(results: list[dict[str, Any]]) -> str:
    header = f"{'case':<14}{'median ms':>11}{'p90 ms':>9}{'p99 ms':>9}{'img/s':>9}{'target':>9}"
    lines = [header, "-" * len(header)]
    for row in results:
        verdict = "ok" if row["within_target"] else "SLOW"
        lines.append(
            f"{row['case']:<14}{row['median_ms']:>11.3f}{row['p90_ms']:>9.3f}"
            f"{row['p99_ms']:>9.3f}{row['images_per_second']:>9}"
            f"{'<= ' + str(row['target_median_ms']):>9} {verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single-runs", type=int, default=3000)
    parser.add_argument("--batch-runs", type=int, default=300)
    parser.add_argument("--json", type=Path, default=Path("reports/inference.json"))
    args = parser.parse_args(argv)
    if args.single_runs < 1 or args.batch_runs < 1:
        parser.error("--single-runs and --batch-runs must be >= 1")

    blas = blas_info()
    classifier = load_classifier()
    images = benchmark_images()
    singles = [images[i : i + 1] for i in range(len(images))]
    batches = [np.resize(images, (BATCH, 28, 28))]
    if len(images) >= 2 * BATCH:
        batches = [images[i : i + BATCH] for i in range(0, len(images) - BATCH + 1, BATCH)]

    single = time_calls(
        lambda i: classifier.predict_proba(singles[i % len(singles)]), args.single_runs, 200
    )
    batch = time_calls(
        lambda i: classifier.predict_proba(batches[i % len(batches)]), args.batch_runs, 20
    )
    results = [summarize("single image", single, 1), summarize("batch of 64", batch, BATCH)]
    report = {
        "model": {"name": classifier.name, "version": classifier.version},
        "machine": machine_info(),
        "blas": blas,
        "results": results,
    }
    print(f"model {classifier.name} {classifier.version}; one BLAS thread; {report['machine']}")
    print(f"BLAS: {blas}\n")
    print(render_table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

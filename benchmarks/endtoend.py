"""End-to-end POST throughput and latency of an app under Gunicorn, at fixed arrival rates.

The rate is stepped up (x1.5 from 100/s; halved down to 10/s if even that is too much) until a
step is not sustained, then bisected twice between the last sustained rate and the first that
was not: that is the maximum sustainable rate. A step is sustained when at least 98% of its
scheduled requests are answered, at most 0.1% fail, and its p99 latency (from the instant each
request was due) stays under the ceiling. Latency at half that rate is then measured on a
longer run.

Each step is a separate `python -m benchmarks.loadgen` process (optionally on its own CPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import profile
from benchmarks.server import REPO_ROOT, GunicornServer, affinity

START_RATE = 100.0
MIN_RATE = 10.0
STEP_FACTOR = 1.5
BISECTIONS = 2
MAX_RATE = 50_000.0
ANSWERED_SHARE = 0.98
ERROR_SHARE = 0.001


@dataclass
class LoadSettings:
    step_seconds: float = 3.0
    half_rate_seconds: float = 10.0
    latency_ceiling_ms: float = 200.0
    connections: int = 64
    generator_cpus: set[int] | None = None
    profile_dir: Path | None = None  # set: py-spy the predict workers at half rate


@dataclass
class RateSearch:
    steps: list[dict[str, Any]] = field(default_factory=list)
    max_sustainable: dict[str, Any] | None = None


def run_load(
    server: GunicornServer,
    body_path: Path,
    content_type: str,
    rate: float,
    seconds: float,
    settings: LoadSettings,
) -> dict[str, Any]:
    """One fixed-rate run by a load generator process; adds the server's CPU per request."""
    command = [sys.executable, "-m", "benchmarks.loadgen", "--url", f"{server.url}/predict"]
    command += ["--rate", f"{rate:.1f}", "--duration", str(seconds)]
    command += ["--connections", str(settings.connections)]
    command += ["--body", str(body_path), "--content-type", content_type]
    cpu_before = server.cpu_seconds()
    with affinity(settings.generator_cpus):
        finished = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=seconds + 60
        )
    if finished.returncode != 0:
        raise RuntimeError(f"load generator failed: {finished.stderr[-2000:]}")
    result = json.loads(finished.stdout)
    server_cpu = server.cpu_seconds() - cpu_before  # includes the unmeasured warm-up second
    answered = max(1, result["completed"])
    result["server_cpu_ms_per_request"] = round(server_cpu * 1000 / answered, 3)
    result["sustained"] = sustained(result, settings.latency_ceiling_ms)
    return result


def sustained(result: dict[str, Any], ceiling_ms: float) -> bool:
    scheduled = max(1, result["scheduled"])
    return (
        result["completed"] >= ANSWERED_SHARE * scheduled
        and result["errors"] <= ERROR_SHARE * scheduled
        and result["latency"]["p99_ms"] <= ceiling_ms
    )


def find_max_sustainable_rate(
    server: GunicornServer, body_path: Path, content_type: str, settings: LoadSettings
) -> RateSearch:
    search = RateSearch()
    good: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None

    def step(rate: float) -> dict[str, Any]:
        result = run_load(server, body_path, content_type, rate, settings.step_seconds, settings)
        search.steps.append(result)
        print(f"    {describe(result)}", flush=True)
        if not result["sustained"]:
            time.sleep(2.0)  # let the server work off the queue the overload left
        return result

    rate = START_RATE
    while rate <= MAX_RATE:
        result = step(rate)
        if not result["sustained"]:
            bad = result
            break
        good, rate = result, rate * STEP_FACTOR
    while good is None and rate / 2 >= MIN_RATE:  # even the start rate was too much: go down
        rate /= 2
        result = step(rate)
        if result["sustained"]:
            good = result
        else:
            bad = result
    for _ in range(BISECTIONS):
        if good is None or bad is None:
            break
        result = step((good["target_rate"] + bad["target_rate"]) / 2)
        if result["sustained"]:
            good = result
        else:
            bad = result
    search.max_sustainable = good
    return search


def describe(result: dict[str, Any]) -> str:
    latency = result["latency"]
    verdict = "sustained" if result["sustained"] else "NOT sustained"
    return (
        f"{result['target_rate']:>8.0f}/s -> {result['achieved_rate']:>8.1f}/s, "
        f"p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, "
        f"errors {result['errors']}, generator {result['generator_cpu_cores']:.2f} cores, "
        f"server {result['server_cpu_ms_per_request']:.3f} CPU-ms/request: {verdict}"
    )


def warm_up(server: GunicornServer, body_path: Path, content_type: str, settings: LoadSettings):
    """A short run at a modest rate: every worker has served, imported and allocated."""
    return run_load(server, body_path, content_type, START_RATE, 1.0, settings)


def benchmark_app(
    name: str,
    server: GunicornServer,
    body_path: Path,
    content_type: str,
    settings: LoadSettings,
    workers: int,
) -> dict[str, Any]:
    """Max sustainable rate, latency at half of it, memory after warm-up and after load."""
    server.wait_for_workers(workers)
    warm_up(server, body_path, content_type, settings)
    memory_warm = server.worker_memory_mb()
    print(f"  {name}: stepping the arrival rate up", flush=True)
    search = find_max_sustainable_rate(server, body_path, content_type, settings)
    half: dict[str, Any] | None = None
    if search.max_sustainable is not None:
        rate = search.max_sustainable["target_rate"] / 2
        print(f"  {name}: {settings.half_rate_seconds:.0f} s at half of it", flush=True)
        half = run_load(server, body_path, content_type, rate, settings.half_rate_seconds, settings)
        print(f"    {describe(half)}", flush=True)
        if settings.profile_dir is not None and name == "predict":
            half["profile"] = profile_at(server, body_path, content_type, rate, settings)
            print(profile.render(half["profile"]), flush=True)
    return {
        # Replacements: max_requests recycling (or a crash) during the runs; each costs a
        # model load and a self-test on that worker, and shows in the latency tail.
        "worker_replacements": server.worker_boots() - workers,
        "max_sustainable": search.max_sustainable,
        "half_rate": half,
        "steps": search.steps,
        "worker_memory_mb": {"after_warm_up": memory_warm, "after_load": server.worker_memory_mb()},
    }


def profile_at(
    server: GunicornServer, body_path: Path, content_type: str, rate: float, settings: LoadSettings
) -> dict[str, Any]:
    """One more run at `rate` with py-spy sampling the workers (kept apart from the measured
    run: sampling costs the workers a little)."""
    if settings.profile_dir is None or server.process is None:
        return {"error": "no profile directory or no server"}
    raw = settings.profile_dir / "predict-py-spy.txt"
    seconds = 6.0
    sampler = profile.start(server.process.pid, seconds, raw)
    run_load(server, body_path, content_type, rate, seconds, settings)
    _, errors = sampler.communicate(timeout=60)
    if sampler.returncode != 0 or not raw.exists():
        return {"error": errors.decode(errors="replace")[-500:]}
    return profile.breakdown(raw)

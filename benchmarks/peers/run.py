"""The peer comparison: CPU per prediction of the service next to apps doing less, same model.

    python -m benchmarks --peers [--quick] [--rounds 3] [--duration 5] [--connections 16,200]
        [--baseline DIR]

Servers, each with 2 worker processes on 127.0.0.1:
- `service`: the service itself (every feature: bounds, preprocessing report, log line,
  Server-Timing), `gunicorn -c service/gunicorn.conf.py "service:create_app()"`;
- `bare-flask`: benchmarks/peers/bare_flask.py (decode, forward, JSON), the same Gunicorn
  configuration: the in-stack reference;
- `fastapi`: benchmarks/peers/fastapi_app.py, the same bare work under uvicorn (uvloop,
  httptools);
- `minimal`: benchmarks/minimal_app.py (reads the body, answers a small JSON object), the same
  Gunicorn configuration: the floor of the stack;
- `baseline` (with `--baseline DIR`): the service from another checkout, e.g.
  `git worktree add /tmp/main main`, to measure a change before and after in one run.

Each round starts every server in turn (the order rotates from round to round, so none always
runs first on a cooler machine), sends a 28x28 PNG from benchmarks/closed_loop.py's keep-alive
connections for each connection count, and stops it. Server CPU is the user + system time of
the server's processes, read from /proc (psutil) at the start and the end of the measured
window, divided by the answers in that window. Which worker answered what comes from /proc
too: the worker that holds the server end of each client connection. Figures are medians over
the rounds.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import closed_loop, report
from benchmarks.server import MINIMAL_APP, REPO_ROOT, SERVICE_APP, GunicornServer

WORKERS = 2
CPU_TARGET_MS = 1.1
SPREAD_TARGET = 0.6
DEFAULT_JSON = REPO_ROOT / "benchmarks" / "results" / "peers.json"


class UvicornServer(GunicornServer):
    """uvicorn with WORKERS processes, run and measured like the Gunicorn servers."""

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1"),
            *("--port", str(self.port), "--workers", str(WORKERS)),
            *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            *("--log-level", "warning"),
        ]


class BaselineServer(GunicornServer):
    """The service from another checkout (`--baseline DIR`), with that checkout's Gunicorn
    configuration: the same measurement before and after a change, in the same run."""

    tree = REPO_ROOT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cwd = self.tree
        self.environ["PYTHONPATH"] = str(self.tree)


def baseline_peer(tree: Path) -> Peer:
    server = type("BaselineServer", (BaselineServer,), {"tree": tree.resolve()})
    return Peer("baseline", SERVICE_APP, server, f"the service from {tree} (--baseline)")


@dataclass(frozen=True)
class Peer:
    name: str
    app: str
    server: type[GunicornServer]
    what: str


PEERS = (
    Peer("service", SERVICE_APP, GunicornServer, "this service, every feature (Gunicorn gthread)"),
    Peer(
        "bare-flask",
        "benchmarks.peers.bare_flask:app",
        GunicornServer,
        "bare Flask: decode, forward, JSON (same Gunicorn config)",
    ),
    Peer(
        "fastapi",
        "benchmarks.peers.fastapi_app:app",
        UvicornServer,
        "FastAPI + uvicorn (uvloop, httptools): the same bare work",
    ),
    Peer("minimal", MINIMAL_APP, GunicornServer, "minimal route: the floor (same Gunicorn config)"),
)


def server_environment() -> dict[str, str]:
    """Two workers, one BLAS thread each, for every server alike."""
    blas = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"WEB_CONCURRENCY": str(WORKERS), **blas}


def wait_until_idle(server: GunicornServer, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
    """Until the server's processes use (almost) no CPU for `quiet_s`: every worker has booted
    (a first answer comes from the first worker up; uvicorn's second may still be importing)."""
    deadline = time.monotonic() + timeout_s
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = server.cpu_seconds()
        if now - before < 0.05 * quiet_s:
            return
        before = now


def measure(
    server: GunicornServer, body: Path, connections: int, warmup: float, duration: float
) -> dict[str, Any]:
    """One closed-loop window against a running server: CPU per answer and the spread."""
    command = closed_loop.command(f"{server.url}/predict", body, connections, warmup, duration)
    generator = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        started = generator.stdout.readline()  # type: ignore[union-attr]
        if not started:
            raise RuntimeError(f"load generator failed: {generator.communicate()[1][-2000:]}")
        cpu_before = server.cpu_seconds()
        owners = server.worker_of_client_ports()
        summary = json.loads(generator.stdout.readline())  # type: ignore[union-attr]
        cpu = server.cpu_seconds() - cpu_before
        generator.wait(timeout=30)
    finally:
        if generator.poll() is None:
            generator.kill()
            generator.wait()
    answered = max(1, summary["completed"])
    by_worker: dict[str, int] = {}
    for port, count in summary.pop("answers_by_client_port").items():
        owner = owners.get(int(port))
        key = f"worker {owner}" if owner else "unmapped (reconnected)"
        by_worker[key] = by_worker.get(key, 0) + count
    mapped = [count for key, count in by_worker.items() if key.startswith("worker")]
    summary["server_cpu_ms_per_prediction"] = round(cpu * 1000 / answered, 3)
    summary["answers_by_worker"] = by_worker
    summary["largest_worker_share"] = round(max(mapped, default=0) / answered, 3)
    return summary


def run_round(
    peers: list[Peer],
    body: Path,
    connection_counts: list[int],
    settings: dict[str, float],
    directory: Path,
) -> dict[str, dict[int, dict[str, Any]]]:
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for peer in peers:
        log = directory / f"{peer.name}-{time.monotonic_ns()}.log"
        with peer.server(peer.app, log, environ=server_environment()) as server:
            server.seconds_to_first_success("/predict", body.read_bytes(), "image/png")
            server.wait_for_workers(WORKERS)
            wait_until_idle(server)
            results[peer.name] = {
                count: measure(server, body, count, settings["warmup"], settings["duration"])
                for count in connection_counts
            }
    return results


def summarise(
    peers: list[Peer], rounds: list[dict[str, dict[int, dict[str, Any]]]]
) -> dict[str, Any]:
    """Medians over the rounds per peer and connection count; ratios to the service."""
    table: dict[str, Any] = {}
    for peer in peers:
        per_count = {}
        for count in rounds[0][peer.name]:
            runs = [result[peer.name][count] for result in rounds]
            per_count[str(count)] = {
                "server_cpu_ms_per_prediction": round(
                    statistics.median(r["server_cpu_ms_per_prediction"] for r in runs), 3
                ),
                # The least disturbed round: on a shared machine, the nearest to the cost itself.
                "least_server_cpu_ms_per_prediction": min(
                    r["server_cpu_ms_per_prediction"] for r in runs
                ),
                "requests_per_s": round(statistics.median(r["requests_per_s"] for r in runs), 1),
                "largest_worker_share": max(r["largest_worker_share"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "generator_cpu_cores": round(
                    statistics.median(r["generator_cpu_cores"] for r in runs), 3
                ),
                "runs": runs,
            }
        table[peer.name] = {"what": peer.what, "by_connections": per_count}
    service = table["service"]["by_connections"]
    for entry in table.values():
        for count, figures in entry["by_connections"].items():
            figures["cpu_ratio_to_service"] = round(
                figures["server_cpu_ms_per_prediction"]
                / max(1e-9, service[count]["server_cpu_ms_per_prediction"]),
                3,
            )
    return table


def render(table: dict[str, Any]) -> str:
    header = f"{'server':<12}{'conns':>6}{'CPU-ms/pred':>13}{'(least)':>9}{'x service':>11}"
    header += f"{'req/s':>9}{'top worker':>12}{'errors':>8}{'gen CPU':>9}"
    lines = [header, "-" * len(header)]
    for name, entry in table.items():
        for count, f in entry["by_connections"].items():
            lines.append(
                f"{name:<12}{count:>6}{f['server_cpu_ms_per_prediction']:>13.3f}"
                f"{f['least_server_cpu_ms_per_prediction']:>9.3f}"
                f"{f['cpu_ratio_to_service']:>11.2f}{f['requests_per_s']:>9.0f}"
                f"{f['largest_worker_share']:>11.0%} {f['errors']:>8}"
                f"{f['generator_cpu_cores']:>9.2f}"
            )
    return "\n".join(lines)


def verdicts(table: dict[str, Any]) -> dict[str, bool]:
    """The issue-14 targets, judged on the service alone: the peers' figures (uvicorn's workers,
    the bare apps) are reported for comparison, not held to this service's targets."""
    service = table["service"]["by_connections"]
    # Every run, not only the median: no run of the service may put more than the target share
    # of its answers on one worker.
    shares = [run["largest_worker_share"] for f in service.values() for run in f["runs"]]
    return {
        f"service CPU per prediction <= {CPU_TARGET_MS} ms": all(
            f["server_cpu_ms_per_prediction"] <= CPU_TARGET_MS for f in service.values()
        ),
        f"no run of the service puts more than {SPREAD_TARGET:.0%} of its answers on one worker": (
            max(shares) <= SPREAD_TARGET
        ),
    }


def main(
    *,
    quick: bool = False,
    rounds: int | None = None,
    duration: float | None = None,
    connection_counts: list[int] | None = None,
    json_path: Path = DEFAULT_JSON,
    baseline: Path | None = None,
) -> int:
    from benchmarks.__main__ import sample_png

    rounds = rounds or (1 if quick else 3)
    settings = {"warmup": 1.0 if quick else 2.0, "duration": duration or (2.0 if quick else 5.0)}
    connection_counts = connection_counts or [16, 200]
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as scratch:
        directory = Path(scratch)
        body = sample_png(directory)
        peers = [*PEERS, baseline_peer(baseline)] if baseline else list(PEERS)
        for index in range(rounds):
            order = peers[index % len(peers) :] + peers[: index % len(peers)]
            print(f"round {index + 1}/{rounds}: {', '.join(p.name for p in order)}", flush=True)
            results.append(run_round(order, body, connection_counts, settings, directory))
    table = summarise(peers, results)
    figures = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "machine": report.machine(),
        "workers_per_server": WORKERS,
        "load": {
            "generator": "benchmarks/closed_loop.py (keep-alive, back to back)",
            "body": "28x28 PNG, the first golden sample",
            **settings,
            "rounds": rounds,
        },
        "peers": table,
        "targets": verdicts(table),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print()
    print(render(table))
    for target, met in figures["targets"].items():
        print(f"{'met   ' if met else 'MISSED'} {target}")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nmachine: {figures['machine']}\nwrote {json_path}")
    return 0

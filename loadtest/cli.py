"""`python -m loadtest` (`nox -s loadtest -- ...`): run Locust headless, gate on the SLOs, exit.

Without --host it starts the service locally under Gunicorn (embedded model; or, with
--backend vertex-fake, BACKEND=vertex with one worker in front of the repository's wire-level
Vertex AI server answering after --upstream-latency-ms) on a free port of 127.0.0.1, runs the
default scenario (open model, 100 requests/s at peak, "ramp" shape, 60 s),
judges the run and stops the service. Exit codes: 0 every SLO met; 1 an SLO breached; 2 the
run cannot be judged (or the command line or SLO file is wrong). This process never imports
Locust: it runs `python -m locust -f loadtest/locustfile.py`, which judges the run in-process
(loadtest.hooks) and writes summary.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import slo
from loadtest import arrivals, auth, preflight
from loadtest.local_service import LocalService, ServiceStartError
from loadtest.profiles import DEFAULT_PROFILE, PROFILES
from loadtest.two_tier import (
    BACKENDS,
    LocalVertexFake,
    parse_fault,
    write_upstream_stats,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_RATE = 100.0
DEFAULT_CLOSED_USERS = 50
DEFAULT_REPORTS = Path("reports/loadtest")
CANNOT_JUDGE = 2
LOCUST_GRACE_S = 90
WORKERS_WAIT_S = 300  # a master gives up (and the run cannot be judged) without its workers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load-test the prediction service with Locust and gate on the SLOs in slo/. "
        "Exit 0: SLOs met; 1: an SLO breached; 2: the run cannot be judged.",
    )
    target = parser.add_argument_group("target")
    target.add_argument("--host", help="service URL (default: start it locally on 127.0.0.1)")
    target.add_argument(
        "--auth",
        choices=auth.AUTH_MODES,
        default="auto",
        help="identity token source for an authenticated Cloud Run service (default: auto = "
        "google-auth, then gcloud, then $LOADTEST_ID_TOKEN; none for 127.0.0.1)",
    )
    target.add_argument("--audience", help="ID token audience (default: the --host URL)")
    target.add_argument(
        "--check-auth", action="store_true", help="only fetch a token, say from where, and exit"
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--shape",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="load profile: "
        + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()).replace("%", "%%"),
    )
    load.add_argument(
        "--duration", type=parse_seconds, help="run length, e.g. 90s, 5m (default: the shape's)"
    )
    load.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"open model: peak requests started per second (default {DEFAULT_RATE:g}); "
        "0 selects the closed model driven by --users",
    )
    load.add_argument(
        "--users",
        type=int,
        help=f"closed model: peak users (default {DEFAULT_CLOSED_USERS}); open model: the "
        "pool of users that start the requests (default: rate x 1 s, at least 10)",
    )
    load.add_argument(
        "--processes", type=int, help="Locust worker processes on this machine (-1: one per core)"
    )
    gate = parser.add_argument_group("gate and reports")
    gate.add_argument("--slo-file", type=Path, default=slo.DEFAULT_SLOS_PATH, help="SLO YAML")
    gate.add_argument(
        "--report-dir", type=Path, default=DEFAULT_REPORTS, help="runs go in DIR/<timestamp>/"
    )
    tier = parser.add_argument_group("local service's backend (no --host)")
    tier.add_argument(
        "--backend",
        choices=BACKENDS,
        default="embedded",
        help="embedded: the model in the service (default); vertex-fake: BACKEND=vertex, one "
        "worker, in front of a local wire-level Vertex AI server (fakes/vertex_server.py)",
    )
    tier.add_argument(
        "--upstream-latency-ms",
        type=int,
        default=100,
        help="vertex-fake: how long the fake takes to answer each call (default 100)",
    )
    tier.add_argument(
        "--upstream-fault",
        help="vertex-fake: KIND[@AFTER[+FOR]], e.g. unavailable@20+20: the fake answers with "
        "that fault from AFTER s after it starts (the load begins a few seconds later, once "
        "the service is ready) for FOR s (kinds: unavailable, overloaded, internal, deadline, "
        "slow, malformed, garbage, hang)",
    )
    drill = parser.add_argument_group("degradation drill (local service only, never production)")
    drill.add_argument("--inject-latency-ms", type=float, default=0.0, help="delay each predict")
    drill.add_argument(
        "--inject-error-share", type=float, default=0.0, help="answer this share of predicts 503"
    )
    scale = parser.add_argument_group("scale-out across machines (Locust master/worker)")
    scale.add_argument("--expect-workers", type=int, help="run as master; wait for N workers")
    scale.add_argument("--worker", action="store_true", help="run as a worker of --master-host")
    scale.add_argument("--master-host", default="127.0.0.1", help="the master, for --worker")
    scale.add_argument("--master-port", type=int, default=5557, help="master port (5557)")
    scale.add_argument(
        "--master-bind-host", default="*", help="interface the master listens on (all)"
    )
    return parser


def parse_seconds(text: str) -> float:
    """'90', '90s', '5m', '1h' -> seconds."""
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else None
        if seconds is None:
            seconds = slo.parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = check_arguments(args)
    if problem:
        parser.error(problem)
    if args.worker:
        return run_locust(worker_command(args))
    try:
        slo.load_slos(args.slo_file)
    except slo.SloConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_JUDGE
    if args.check_auth:
        return preflight.check_auth(args)
    if args.host:
        headers = preflight.token_headers(args)
        if headers is None or not preflight.reachable(args.host, headers):
            return CANNOT_JUDGE
    run_dir = new_run_dir(args.report_dir)
    print(f"loadtest: reports go to {run_dir}", flush=True)
    try:
        with target_service(args, run_dir) as host:
            locust_code = run_locust(locust_command(args, host, run_dir))
    except ServiceStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_JUDGE
    return gate_exit_code(run_dir, locust_code)


def check_arguments(args: argparse.Namespace) -> str | None:
    injecting = args.inject_latency_ms or args.inject_error_share
    if injecting and args.host:
        return "--inject-* only apply to the local service (no --host)"
    if args.host and not args.host.startswith(("http://", "https://")):
        return f"--host must be an http:// or https:// URL, not {args.host!r}"
    if args.inject_latency_ms < 0 or not 0 <= args.inject_error_share <= 1:
        return "--inject-latency-ms must be >= 0 and --inject-error-share within [0, 1]"
    if args.rate < 0 or (args.users is not None and args.users < 1):
        return "--rate must be >= 0 and --users >= 1"
    if args.expect_workers and not args.host:
        return "--expect-workers needs a --host that the remote workers can reach"
    if args.expect_workers and args.processes:
        return "--expect-workers and --processes do not combine (workers come from elsewhere)"
    if args.check_auth and not args.host:
        return "--check-auth needs --host"
    if args.host and args.backend != "embedded":
        return "--backend only applies to the local service (no --host)"
    if args.upstream_fault and args.backend != "vertex-fake":
        return "--upstream-fault needs --backend vertex-fake"
    if args.upstream_latency_ms < 0:
        return "--upstream-latency-ms must be >= 0"
    if args.upstream_fault:
        try:
            parse_fault(args.upstream_fault)
        except ValueError as error:
            return f"--upstream-fault {args.upstream_fault!r}: {error}"
    return None


def new_run_dir(base: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, suffix = base / stamp, 1
    while candidate.exists():
        suffix += 1
        candidate = base / f"{stamp}-{suffix}"
    candidate.mkdir(parents=True)
    return candidate


@contextlib.contextmanager
def target_service(args: argparse.Namespace, run_dir: Path) -> Iterator[str]:
    """The --host, or a local service started for the run and stopped afterwards."""
    if args.host:
        yield args.host.rstrip("/")
        return
    app = "service:create_app()"
    if args.inject_latency_ms or args.inject_error_share:
        app = (
            f"loadtest.degrade:degraded_app(latency_ms={args.inject_latency_ms!r}, "
            f"error_share={args.inject_error_share!r})"
        )
    with contextlib.ExitStack() as stack:
        environ = {"BACKEND": "embedded"}
        fake = None
        if args.backend == "vertex-fake":
            fault = parse_fault(args.upstream_fault) if args.upstream_fault else None
            fake = LocalVertexFake(run_dir / "vertex-fake.log", args.upstream_latency_ms, fault)
            stack.enter_context(fake)
            environ = fake.service_environment()
            print(
                f"loadtest: Vertex AI fake on 127.0.0.1:{fake.grpc_port} (gRPC), answering "
                f"after {args.upstream_latency_ms} ms"
                + (f", fault {args.upstream_fault}" if args.upstream_fault else ""),
                flush=True,
            )
        service = LocalService(run_dir / "service.log", app=app, environ=environ)
        print(f"loadtest: starting the service locally ({app}) on {service.url}", flush=True)
        with service:
            print("loadtest: the service is ready", flush=True)
            yield service.url
        if fake is not None:
            write_upstream_stats(fake, run_dir)


def locust_command(args: argparse.Namespace, host: str, run_dir: Path) -> list[str]:
    command = [
        *_locust(),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--shape",
        args.shape,
        "--arrival-rate",
        repr(args.rate),
        "--slo-file",
        str(args.slo_file),
        "--report-dir",
        str(run_dir),
        "--auth",
        args.auth,
        "--html",
        str(run_dir / "report.html"),
        "--csv",
        str(run_dir / "stats"),
    ]
    if args.audience:
        command += ["--audience", args.audience]
    if args.duration:
        command += ["--run-time", f"{max(1, round(args.duration))}s"]
    if args.rate > 0:
        users = arrivals.pool_size(args.rate, args.users)
    else:
        users = args.users or DEFAULT_CLOSED_USERS
    command += ["--users", str(users)]
    if args.processes:
        command += ["--processes", str(args.processes)]
    if args.expect_workers:
        command += ["--master", "--expect-workers", str(args.expect_workers)]
        command += ["--expect-workers-max-wait", str(WORKERS_WAIT_S)]
        command += ["--master-bind-host", args.master_bind_host]
        command += ["--master-bind-port", str(args.master_port)]
    return command


def worker_command(args: argparse.Namespace) -> list[str]:
    command = [*_locust(), "--worker", "--master-host", args.master_host]
    command += ["--master-port", str(args.master_port)]
    if args.processes:
        command += ["--processes", str(args.processes)]
    return command


def _locust() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def run_locust(command: list[str]) -> int:
    """Run Locust in the foreground; on Ctrl-C or SIGTERM let it finish judging what it has."""
    process = subprocess.Popen(command)  # noqa: S603 - our interpreter, our arguments
    terminated = []

    def on_sigterm(signum: int, _frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return process.wait()
    except KeyboardInterrupt:
        if terminated:  # a terminal's Ctrl-C already reached Locust; SIGTERM did not
            process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=LOCUST_GRACE_S)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.kill()
            return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def gate_exit_code(run_dir: Path, locust_code: int) -> int:
    """The gate's verdict from summary.json; 2 when Locust ended before the gate ran."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        code = int(summary["result"]["exit_code"])
    except (OSError, ValueError, KeyError, TypeError):
        print(
            f"loadtest: the gate did not run (Locust exited with code {locust_code}); "
            "see its output above",
            file=sys.stderr,
        )
        return CANNOT_JUDGE
    print(f"loadtest: report in {run_dir} (summary.json, report.html, stats_*.csv)")
    return code

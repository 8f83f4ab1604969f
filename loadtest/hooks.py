"""Locust event listeners that make a run judgeable, locally or distributed.

Every load-generating process (local runner or worker) records each request into a Recorder
(`events.request`). Workers send what they recorded since their last report to the master with
every stats report (`events.report_to_master` -> `events.worker_report`, every 3 s), each
marked with whether the worker's users had all stopped. When the profile ends, the shape stops
every user and waits until each worker has sent a report from after its users stopped
(`results_complete`): only then does it end the run, so the master judges the whole run, merged.
A worker whose final report never came makes the run impossible to judge. Background work (the
gate, the summary) runs only on the master or the local runner.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import locust
from locust.runners import MasterRunner, WorkerRunner

import slo
from loadtest import arrivals, auth, gate, html_report, report, scenarios
from loadtest.profiles import DEFAULT_PROFILE, PROFILES
from loadtest.recorder import Recorder

logger = logging.getLogger(__name__)

REPORT_KEY = "loadtest"
# Set on the master's options; Locust sends custom options to every worker with each spawn.
THRESHOLDS_OPTION = "loadtest_thresholds_ms"
REPO_DIR = Path(__file__).resolve().parent.parent


class RunState:
    """What this process knows about the run."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.slos: slo.SloSet | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.peak_cpu: float | None = None
        self.runner: Any = None
        # Master: for each worker, whether its latest report came after its users had stopped.
        self.worker_idle: dict[str, bool] = {}
        self.worker_peak_cpu: dict[str, float] = {}
        self.table: str | None = None

    def reset_recorder(self, thresholds_ms: list[float]) -> None:
        self.recorder = Recorder(thresholds_ms)
        arrivals.SCHEDULER.counters = self.recorder.arrivals


STATE = RunState()


def install(events: Any) -> None:
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(on_init)
    events.test_start.add_listener(on_test_start)
    events.test_stop.add_listener(on_test_stop)
    events.request.add_listener(on_request)
    events.cpu_warning.add_listener(on_cpu_warning)
    events.report_to_master.add_listener(on_report_to_master)
    events.worker_report.add_listener(on_worker_report)
    events.quitting.add_listener(on_quitting)
    events.quit.add_listener(on_quit)


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--shape", choices=sorted(PROFILES), default=DEFAULT_PROFILE, help="load profile"
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="open model: peak requests started per second (0: closed model, --users)",
    )
    parser.add_argument("--slo-file", default=str(slo.DEFAULT_SLOS_PATH), help="SLO YAML")
    parser.add_argument("--report-dir", default="", help="write summary.json here")
    parser.add_argument("--auth", choices=auth.AUTH_MODES, default="auto", help="ID token source")
    parser.add_argument("--audience", default="", help="ID token audience (default: the host)")


def on_init(environment: Any, **_kwargs: Any) -> None:
    runner = STATE.runner = environment.runner
    options = environment.parsed_options
    if not isinstance(runner, WorkerRunner):
        try:
            STATE.slos = slo.load_slos(Path(options.slo_file))
        except slo.SloConfigError as error:
            sys.stderr.write(f"{error}\n")
            sys.exit(int(gate.ExitCode.CANNOT_JUDGE))
        thresholds = latency_thresholds(STATE.slos)
        setattr(options, THRESHOLDS_OPTION, thresholds)
        STATE.reset_recorder(thresholds)
    if not isinstance(runner, MasterRunner):
        runner.register_message(arrivals.RATE_MESSAGE, arrivals.on_rate_message)


def latency_thresholds(slos: slo.SloSet) -> list[float]:
    return [o.threshold_ms for o in slos.objectives if o.sli == "latency"]


def on_test_start(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    options = environment.parsed_options
    if not isinstance(runner, MasterRunner):
        # On a worker, the master's options (thresholds, auth, host) have just arrived.
        STATE.reset_recorder(list(getattr(options, THRESHOLDS_OPTION, [])))
        scenarios.token_provider = build_token_provider(options, environment.host)
    if not isinstance(runner, WorkerRunner):
        STATE.started_at, STATE.ended_at = time.time(), None


def on_test_stop(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        arrivals.SCHEDULER.set_rate(0)
    elif STATE.ended_at is None:
        STATE.ended_at = time.time()


def mark_end() -> None:
    """The profile is over (called by the shape): the run's measured time ends here."""
    if STATE.ended_at is None:
        STATE.ended_at = time.time()


def on_request(
    response_time: float | None, response: Any, exception: BaseException | None, **_kwargs: Any
) -> None:
    status = getattr(response, "status_code", 0) or 0
    STATE.recorder.record(response_time or 0.0, status, exception is not None)


def on_cpu_warning(environment: Any, cpu_usage: float, **_kwargs: Any) -> None:
    STATE.peak_cpu = max(cpu_usage, STATE.peak_cpu or 0.0)


def on_report_to_master(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    idle = STATE.runner is not None and STATE.runner.user_count == 0
    data[REPORT_KEY] = {**STATE.recorder.take(), "peak_cpu": STATE.peak_cpu, "idle": idle}


def on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    message = data.get(REPORT_KEY)
    if message is None:
        return
    STATE.recorder.merge(message)
    STATE.worker_idle[client_id] = bool(message.get("idle"))
    if message.get("peak_cpu"):
        previous = STATE.worker_peak_cpu.get(client_id, 0.0)
        STATE.worker_peak_cpu[client_id] = max(previous, message["peak_cpu"])


def unreported_workers(runner: Any) -> tuple[str, ...]:
    """Workers whose results may be incomplete: no report since their users stopped."""
    if not isinstance(runner, MasterRunner):
        return ()
    workers = {client.id for client in runner.clients.all} | set(STATE.worker_idle)
    return tuple(sorted(w for w in workers if not STATE.worker_idle.get(w, False)))


def results_complete(runner: Any) -> bool:
    return not unreported_workers(runner)


def on_quitting(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or STATE.slos is None:
        return
    missing = unreported_workers(runner)
    mark_end()
    peaks = [p for p in (STATE.peak_cpu, *STATE.worker_peak_cpu.values()) if p]
    saturated = bool(peaks) or bool(getattr(runner, "worker_cpu_warning_emitted", False))
    health = gate.GeneratorHealth(saturated, max(peaks) if peaks else None, missing)
    result = gate.evaluate(STATE.slos, STATE.recorder, health)
    info = run_info(environment)
    service = STATE.slos.service
    STATE.table = report.render_table(result, STATE.recorder, info, service)
    options = environment.parsed_options
    if options.report_dir:
        summary = report.build_summary(result, STATE.recorder, info, service)
        report.write_summary(Path(options.report_dir), summary)
    if getattr(options, "html_file", None):
        # Locust has written its report.html by now (before `quitting`): the gate goes on top.
        intervals = STATE.recorder.timeline.summaries()
        thresholds = latency_thresholds(STATE.slos)
        section = html_report.gate_section(result, intervals, thresholds, info, service)
        html_report.add_to_report(Path(options.html_file), section)
    environment.process_exit_code = int(result.exit_code)


def on_quit(exit_code: int, **_kwargs: Any) -> None:
    # After Locust's own statistics, so that the verdict is the last thing on the screen.
    if STATE.table:
        print("\n" + STATE.table, flush=True)


def run_info(environment: Any) -> report.RunInfo:
    options = environment.parsed_options
    runner = environment.runner
    profile = PROFILES[options.shape]
    rate = options.arrival_rate
    open_model = rate > 0
    return report.RunInfo(
        target=environment.host or "",
        shape=options.shape,
        model="open" if open_model else "closed",
        users=arrivals.pool_size(rate, options.num_users) if open_model else options.num_users,
        arrival_rate=rate if open_model else None,
        target_mean_rate=profile.mean_level() * rate if open_model else None,
        planned_duration_s=float(options.run_time or profile.default_duration_s),
        started_at=STATE.started_at,
        ended_at=STATE.ended_at,
        workers=len(STATE.worker_idle) if isinstance(runner, MasterRunner) else 1,
        slo_file=str(STATE.slos.source),
        git_revision=report.git_revision(REPO_DIR),
        locust_version=locust.__version__,
    )


def build_token_provider(options: Any, host: str | None) -> auth.TokenProvider | None:
    """A provider when the target needs a token (--auth; auto skips loopback hosts)."""
    if not host or options.auth == "none":
        return None
    if options.auth == "auto" and auth.is_loopback(host):
        return None
    audience = options.audience or auth.audience_for(host)
    return auth.TokenProvider(audience, auth.sources_for(options.auth))

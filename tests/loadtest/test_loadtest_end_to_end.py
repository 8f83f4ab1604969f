"""`python -m loadtest` end to end: a local service under Gunicorn, Locust, the gate, reports.

Each run is short (6-15 s at tens of requests per second on 127.0.0.1) and starts and stops
its own service, as `nox -s loadtest` does.
"""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

from loadtest.local_service import LocalService, free_port
from tests.loadtest.conftest import REPO, loadtest_env
from tests.loadtest.token_fakes import http_server


def test_a_healthy_service_passes_and_every_report_is_written(run_loadtest, judgeable_slos):
    run = run_loadtest("--slo-file", str(judgeable_slos), "--duration", "15s", "--rate", "40")
    assert run.code == 0, run.output
    assert "SLO gate: prediction-service" in run.output
    assert "PASS (exit 0)" in run.output
    summary = run.summary
    assert summary["result"] == {"exit_code": 0, "verdict": "PASS", "reasons": []}
    assert run.verdicts() == {"availability": "PASS", "latency": "PASS"}
    assert summary["requests"]["total"] >= 299
    assert summary["requests"]["outcomes"]["good"] == summary["requests"]["total"]
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    load = summary["load"]
    assert load["model"] == "open" and load["target_peak_rate"] == 40
    assert load["arrivals"]["dropped"] == 0
    assert summary["run"]["shape"] == "ramp" and summary["run"]["git_revision"]
    for name in ("report.html", "stats_stats.csv", "service.log"):
        assert (run.run_dir / name).is_file(), name
    # Locust's report with the gate's section on top: verdict, table, latency chart.
    page = (run.run_dir / "report.html").read_text(encoding="utf-8")
    gate = page.index('<section id="slo-gate"')
    assert gate < page.index('<div id="root"')
    assert "<strong>PASS</strong> (exit 0)" in page
    assert "<polyline" in page and "SLO threshold 200 ms" in page


def test_added_latency_fails_the_latency_row_only(run_loadtest):
    run = run_loadtest(
        "--inject-latency-ms", "250", "--duration", "12s", "--rate", "25", "--users", "40"
    )
    assert run.code == 1, run.output
    verdicts = run.verdicts()
    assert verdicts["latency"] == "FAIL"
    assert verdicts["availability"] != "FAIL"
    assert "FAIL (exit 1)" in run.output


def test_injected_5xx_fail_the_availability_row_even_in_a_short_run(run_loadtest):
    # About 300 requests, 5% of predictions answered 503: about 15 failures, far more than the
    # 5 or so that already prove a 0.1% budget breached (slo.stats.judge_rate).
    run = run_loadtest("--inject-error-share", "0.05", "--duration", "12s", "--rate", "30")
    assert run.code == 1, run.output
    assert run.verdicts() == {"availability": "FAIL", "latency": "PASS"}
    assert "the 99.9% goal is breached" in run.output
    assert run.summary["requests"]["outcomes"]["server_error"] > 2


def test_a_too_short_run_cannot_be_judged_and_says_why(run_loadtest):
    run = run_loadtest("--duration", "6s", "--rate", "20")
    assert run.code == 2, run.output
    assert "CANNOT JUDGE (exit 2)" in run.output
    assert re.search(
        r"availability: .* not enough to show the 99.9% goal met; at least [\d,]+ more", run.output
    )


def test_workers_results_are_merged_before_the_gate(run_loadtest, judgeable_slos):
    run = run_loadtest(
        "--slo-file", str(judgeable_slos), "--processes", "2", "--duration", "12s", "--rate", "40"
    )
    assert run.code == 0, run.output
    summary = run.summary
    assert summary["run"]["workers"] == 2
    with (run.run_dir / "stats_stats.csv").open() as stats:
        aggregated = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    # The gate's own exact records from both workers add up to Locust's merged statistics.
    assert summary["requests"]["total"] == int(aggregated["Request Count"])


def test_a_run_dominated_by_401_cannot_be_judged_and_the_token_stays_secret(
    run_loadtest, judgeable_slos
):
    fake_jwt = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9.c2VjcmV0LXNpZ25hdHVyZQ"

    def unauthorised(path, query, headers, body):
        return 401, {"Content-Type": "application/json"}, b'{"error": "unauthorised"}'

    with http_server(unauthorised) as (address, seen):
        run = run_loadtest(
            "--host",
            f"http://{address}",
            "--auth",
            "env",
            "--slo-file",
            str(judgeable_slos),
            "--duration",
            "6s",
            "--rate",
            "20",
            env=loadtest_env(LOADTEST_ID_TOKEN=fake_jwt),
        )
    assert run.code == 2, run.output
    assert "of the answers were 401, 403 or 429" in run.output
    assert seen and {r["headers"].get("authorization") for r in seen} == {f"Bearer {fake_jwt}"}
    assert fake_jwt not in run.output
    assert fake_jwt not in (run.run_dir / "summary.json").read_text()


def start_loadtest(*args: str, **popen: object) -> subprocess.Popen:
    """`python -m loadtest ARGS` in the background, its output as text on a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest", *args],
        cwd=REPO,
        env=loadtest_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def test_ctrl_c_judges_what_ran_and_stops_the_service(tmp_path):
    process = start_loadtest(
        "--report-dir",
        str(tmp_path),
        "--duration",
        "60s",
        "--rate",
        "10",
        start_new_session=True,
    )
    output = []
    port = None
    for line in process.stdout:
        output.append(line)
        if match := re.search(r"on http://127\.0\.0\.1:(\d+)", line):
            port = int(match.group(1))
        if "All users spawned" in line:
            break
    time.sleep(3)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    rest, _ = process.communicate(timeout=90)
    output.append(rest)
    text = "".join(output)
    assert process.returncode == 2, text  # a few seconds of traffic: too few to judge
    assert "not enough to show the 99.9% goal met" in text
    assert list(tmp_path.glob("*/summary.json"))
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the service is still listening"


def test_master_and_worker_as_on_separate_machines(tmp_path, judgeable_slos):
    """The documented scale-out commands, with the master and its worker on 127.0.0.1."""
    port = str(free_port())
    reports = tmp_path / "reports"
    with LocalService(tmp_path / "service.log") as service:
        master = start_loadtest(
            "--host",
            service.url,
            "--expect-workers",
            "1",
            "--master-bind-host",
            "127.0.0.1",
            "--master-port",
            port,
            "--slo-file",
            str(judgeable_slos),
            "--duration",
            "12s",
            "--rate",
            "30",
            "--report-dir",
            str(reports),
        )
        worker = start_loadtest("--worker", "--master-host", "127.0.0.1", "--master-port", port)
        output, _ = master.communicate(timeout=120)
        worker.communicate(timeout=30)
    assert master.returncode == 0, output
    summary = json.loads(next(reports.glob("*/summary.json")).read_text())
    assert summary["run"]["workers"] == 1
    assert summary["requests"]["total"] >= 299


def test_a_saturated_worker_makes_the_run_unjudgeable(tmp_path, judgeable_slos):
    with LocalService(tmp_path / "service.log") as service:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                "tests/loadtest/cpu_warning_locustfile.py",
                "--headless",
                "--only-summary",
                "--host",
                service.url,
                "--processes",
                "2",
                "--arrival-rate",
                "30",
                "--run-time",
                "8s",
                "--users",
                "30",
                "--slo-file",
                str(judgeable_slos),
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=loadtest_env(),
            timeout=120,
        )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output
    assert "the load generator's CPU went above 90% (peak 95%)" in output
    assert json.loads((tmp_path / "summary.json").read_text())["result"]["exit_code"] == 2

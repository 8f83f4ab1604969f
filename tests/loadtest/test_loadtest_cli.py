"""Command-line mistakes: a message naming what is wrong, exit 2, nothing started."""

import socket
import subprocess
import sys

import pytest

from tests.loadtest.conftest import REPO, loadtest_env


def loadtest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loadtest", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=loadtest_env(),
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "https://staging.example", "--inject-latency-ms", "10"],
            "only apply to the local",
        ),
        (["--inject-error-share", "2"], "--inject-error-share within [0, 1]"),
        (["--duration", "0"], "must be positive"),
        (["--duration", "soon"], "expected a duration like 5m"),
        (["--shape", "zigzag"], "invalid choice: 'zigzag'"),
        (["--expect-workers", "3"], "needs a --host"),
        (["--host", "staging.example"], "--host must be an http:// or https:// URL"),
    ],
)
def test_bad_flags_are_refused(args, message):
    completed = loadtest(*args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_broken_slo_file_names_file_field_and_reason(tmp_path):
    broken = tmp_path / "slos.yaml"
    broken.write_text(
        "service: s\nwindow_days: 30\nobjectives:\n  - name: a\n    sli: availability\n"
        "    goal: 99.9\n"
    )
    completed = loadtest("--slo-file", str(broken), "--report-dir", str(tmp_path / "r"))
    assert completed.returncode == 2
    assert f"{broken}: objectives[0].goal: must be > 0 and <= 0.999, got 99.9" in completed.stderr
    assert not (tmp_path / "r").exists()  # nothing was started


def test_help_lists_the_flags():
    completed = loadtest("--help")
    assert completed.returncode == 0
    for flag in (
        "--host",
        "--users",
        "--shape",
        "--duration",
        "--rate",
        "--processes",
        "--report-dir",
        "--slo-file",
        "--auth",
        "--expect-workers",
        "--worker",
    ):
        assert flag in completed.stdout


def test_an_unreachable_host_cannot_be_judged(tmp_path):
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    completed = loadtest("--host", f"http://127.0.0.1:{port}", "--report-dir", str(tmp_path / "r"))
    assert completed.returncode == 2
    assert f"cannot reach http://127.0.0.1:{port}" in completed.stderr
    assert not (tmp_path / "r").exists()

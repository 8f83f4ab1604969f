"""The peer benchmark's parts measure what they claim: the closed-loop generator counts answers
per connection, and a measured window maps each connection to the worker that served it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks.closed_loop import command as closed_loop_command
from benchmarks.peers import run
from benchmarks.server import MINIMAL_APP, REPO_ROOT, GunicornServer


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generator expects

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.path == "/predict" else 404
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_loop(url: str, body: Path, connections: int) -> tuple[list[int], dict]:
    command = closed_loop_command(url, body, connections, 0.2, 0.5)
    finished = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    started, summary = (json.loads(line) for line in finished.stdout.splitlines())
    return started["measuring"], summary


def test_the_closed_loop_counts_every_answer_by_connection(local_server, tmp_path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x89PNG" * 100)
    ports, summary = closed_loop(f"{local_server}/predict", body, connections=3)

    assert len(set(ports)) == 3
    assert summary["completed"] > 0 and summary["errors"] == 0
    assert summary["statuses"] == {"200": summary["completed"]}
    assert sum(summary["answers_by_client_port"].values()) == summary["completed"]
    assert {int(port) for port in summary["answers_by_client_port"]} <= set(ports)


def test_the_closed_loop_counts_non_200_answers_as_errors(local_server, tmp_path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"x")
    _, summary = closed_loop(f"{local_server}/missing", body, connections=1)

    assert summary["completed"] > 0 and summary["errors"] == summary["completed"]


def test_the_closed_loop_refuses_other_hosts(tmp_path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"x")
    command = [sys.executable, "-m", "benchmarks.closed_loop"]
    command += ["--url", "http://192.0.2.1/predict", "--body", str(body)]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)

    assert finished.returncode != 0 and "loopback" in finished.stderr


def test_a_window_maps_every_answer_to_one_of_the_two_workers(tmp_path) -> None:
    body = tmp_path / "body.png"
    body.write_bytes(b"\x89PNG" * 10)
    environ = run.server_environment()
    with GunicornServer(MINIMAL_APP, tmp_path / "minimal.log", environ=environ) as server:
        server.seconds_to_first_success("/predict", body.read_bytes(), "image/png")
        server.wait_for_workers(run.WORKERS)
        figures = run.measure(server, body, connections=8, warmup=0.3, duration=0.7)
        workers = {worker.pid for worker in server.workers()}

    assert figures["completed"] > 0 and figures["errors"] == 0
    assert sum(figures["answers_by_worker"].values()) == figures["completed"]
    mapped = {key for key in figures["answers_by_worker"] if key.startswith("worker ")}
    assert mapped and {int(key.split()[1]) for key in mapped} <= workers
    assert 0.5 <= figures["largest_worker_share"] <= 1.0
    assert figures["server_cpu_ms_per_prediction"] > 0


@pytest.mark.parametrize(
    "arguments",
    [["--baseline", "/nonexistent"], ["--connections", "16,x"], ["--connections", "0"]],
)
def test_bad_peer_flags_are_refused_before_any_server_starts(arguments, tmp_path) -> None:
    command = [sys.executable, "-m", "benchmarks", "--peers", *arguments]
    command += ["--json", str(tmp_path / "peers.json")]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 2
    assert "--" in finished.stderr.splitlines()[-1]
    assert not (tmp_path / "peers.json").exists()

"""A Gunicorn process for the benchmarks: started with the service's own configuration, timed
from process start to its first good answer, and measured (resident memory and CPU time of its
workers) with psutil."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE_APP = "service:create_app()"
MINIMAL_APP = "benchmarks.minimal_app:app"
START_TIMEOUT_S = 60.0


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def affinity(cpus: set[int] | None) -> Iterator[None]:
    """Run the block (and what it starts) on `cpus`; children inherit the mask at fork."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def post(port: int, path: str, body: bytes, content_type: str, timeout: float = 2.0) -> int:
    """POST to 127.0.0.1:port; the answer's status code."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


class GunicornServer:
    """`gunicorn -c service/gunicorn.conf.py APP` on a free loopback port (in its own session)."""

    def __init__(
        self,
        app: str,
        log_path: Path,
        cpus: set[int] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.app, self.log_path, self.cpus = app, log_path, cpus
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "PORT": str(self.port),
            **(environ or {}),
        }
        self.environ.pop("AIP_HTTP_PORT", None)
        self.cwd = REPO_ROOT  # where the server runs (its `service` package comes from there)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        """The server's command line (a subclass may run another server the same way)."""
        conf = self.cwd / "service" / "gunicorn.conf.py"  # that checkout's configuration
        command = [sys.executable, "-m", "gunicorn", "-c", str(conf)]
        return [*command, "--bind", f"127.0.0.1:{self.port}", self.app]

    def start(self) -> None:
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log, affinity(self.cpus):
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=self.environ,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def seconds_to_first_success(self, path: str, body: bytes, content_type: str) -> float:
        """From process start until `POST path` first answers 200 (polled every 5 ms)."""
        deadline = self.started_at + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if post(self.port, path, body, content_type) == 200:
                    return time.monotonic() - self.started_at
            time.sleep(0.005)
        raise RuntimeError(f"no successful {path} within {START_TIMEOUT_S} s; see {self.log_path}")

    def wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(self.workers()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def workers(self) -> list[psutil.Process]:
        if self.process is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.process.pid).children()
        return []

    def worker_of_client_ports(self) -> dict[int, int]:
        """Client port -> pid of the worker holding the server end of that connection."""
        owners = {}
        for worker in self.workers():
            with contextlib.suppress(psutil.Error):
                for connection in worker.net_connections(kind="tcp"):
                    if connection.laddr and connection.raddr and connection.laddr.port == self.port:
                        owners[connection.raddr.port] = worker.pid
        return owners

    def worker_memory_mb(self) -> list[dict[str, float]]:
        """Resident (RSS) and unique (USS: what the worker alone holds) memory of each worker."""
        sizes = []
        for worker in self.workers():
            with contextlib.suppress(psutil.NoSuchProcess):
                info = worker.memory_full_info()
                sizes.append({"rss": round(info.rss / 1e6, 1), "uss": round(info.uss / 1e6, 1)})
        return sizes

    def worker_boots(self) -> int:
        """Workers started so far (first ones and replacements), from Gunicorn's log."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text.count("Booting worker")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and of its workers so far, those that were
        replaced (max_requests) included: the master reaped them, so they count as its
        children_user and children_system."""
        if self.process is None:
            return 0.0
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            master = psutil.Process(self.process.pid)
            times = master.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for worker in master.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = worker.cpu_times()
                    total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> GunicornServer:
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

"""The service as it runs in production, for every test that needs it (service, two-tier
Vertex AI, drills, schema fuzzing): a real `gunicorn -c service/gunicorn.conf.py
"service:create_app()"` process on a free 127.0.0.1 port, with its master and worker process ids
at hand so that a test can signal them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = REPO_ROOT / "service" / "gunicorn.conf.py"


def unused_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class GunicornProcess:
    """A running Gunicorn master; `url` is its base URL on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> set[int]:
        """The master's live child processes (its workers), read from /proc."""
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except OSError:
            return set()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_workers(self, count: int, excluding: set[int], timeout: float) -> set[int]:
        """Wait until `count` workers run, none of them in `excluding`; return their pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not pids & excluding and self.is_ready():
                return pids
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} fresh workers within {timeout} s, have {self.worker_pids()}\n"
            + self.log_text()[-3000:]
        )

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/ready", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False


@contextmanager
def running_gunicorn(
    log_path: Path,
    workers: int = 2,
    threads: int = 4,
    environment: Mapping[str, str] | None = None,
) -> Iterator[GunicornProcess]:
    """Gunicorn with the production config on a free loopback port, with `environment` on top
    of this process's; ready (all workers up, GET /ready is 200) on entry; on exit SIGTERM,
    then SIGKILL if it is still there after 15 s."""
    port = unused_loopback_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "THREADS": str(threads),
        **(environment or {}),
    }
    env.pop("AIP_HTTP_PORT", None)  # would move the bind away from PORT
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    command += ["--bind", f"127.0.0.1:{port}", "service:create_app()"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
    server = GunicornProcess(process, port, log_path)
    try:
        _wait_until_ready(server, workers, timeout=60)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                process.kill()
            process.wait()


def _wait_until_ready(server: GunicornProcess, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"gunicorn exited with {server.process.returncode}:\n{server.log_text()}"
            )
        if len(server.worker_pids()) == workers and server.is_ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"gunicorn was not ready within {timeout} s:\n{server.log_text()}")

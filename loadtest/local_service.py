"""Start the prediction service locally under Gunicorn for a load test, and stop it afterwards.

The service runs exactly as in its container (`gunicorn -c service/gunicorn.conf.py
"service:create_app()"`, embedded model) but bound to a free port on 127.0.0.1. Gunicorn gets a
session of its own, so a Ctrl-C in the terminal reaches the load generator (which then ends the
run and judges it) and not the service it is still measuring; `stop()` ends it afterwards.

`LocalVertexFake` runs the wire-level Vertex AI server (`python -m fakes.vertex_server`, from
the repository) as a process, for the two-tier run: the service with BACKEND=vertex in front
of it (`--backend vertex-fake`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
DEFAULT_APP = "service:create_app()"


class ServiceStartError(RuntimeError):
    """The service exited or never became ready; the message ends with its last log lines."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_config() -> Path:
    """service/gunicorn.conf.py, found without importing the service package."""
    spec = importlib.util.find_spec("service")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceStartError("the `service` package is not importable (pip install -e .[serve])")
    return Path(next(iter(spec.submodule_search_locations))) / "gunicorn.conf.py"


class LocalService:
    """`with LocalService(log_path) as service: service.url` runs Gunicorn for the block."""

    def __init__(
        self,
        log_path: Path,
        app: str = DEFAULT_APP,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        self.app = app
        self.environ = environ or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> LocalService:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        config = gunicorn_config()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(config),
            "--bind",
            f"127.0.0.1:{self.port}",
            self.app,
        ]
        environ = {**os.environ, "PORT": str(self.port), **self.environ}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command,
            cwd=config.parent.parent,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceStartError(
                    f"the service exited with code {self._process.returncode} before it was "
                    f"ready; its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as answer:  # noqa: S310 - http://127.0.0.1 we started
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last_error = f"/ready answered {error.code}"
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise ServiceStartError(
            f"the service was not ready after {READY_TIMEOUT_S:.0f} s ({last_error}); its log "
            f"({self.log_path}) ends with:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM to Gunicorn's session (graceful), SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


class LocalVertexFake:
    """`with LocalVertexFake(log_path, latency_ms=100) as fake: fake.grpc_port` runs the
    repository's Vertex AI fake for the block; `fault` is passed as --fault/--fault-after/
    --fault-for (a kind and its window in seconds from start)."""

    def __init__(
        self,
        log_path: Path,
        latency_ms: int = 100,
        fault: tuple[str, float, float | None] | None = None,
    ) -> None:
        self.log_path = log_path
        self.latency_ms = latency_ms
        self.fault = fault
        self.grpc_port = 0
        self.rest_port = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LocalVertexFake:
        root = gunicorn_config().parent.parent
        if not (root / "fakes" / "vertex_server.py").is_file():
            raise ServiceStartError(f"no fakes/vertex_server.py under {root}: run from a checkout")
        command = [
            sys.executable,
            "-m",
            "fakes.vertex_server",
            "--latency-ms",
            str(self.latency_ms),
        ]
        if self.fault is not None:
            kind, after, duration = self.fault
            command += ["--fault", kind, "--fault-after", str(after)]
            if duration is not None:
                command += ["--fault-for", str(duration)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                command, cwd=root, stdout=subprocess.PIPE, stderr=log, text=True
            )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self.__exit__()
            raise ServiceStartError(
                f"the Vertex AI fake exited before it bound its ports; see {self.log_path}"
            )
        ports = json.loads(line)
        self.grpc_port, self.rest_port = ports["grpc_port"], ports["rest_port"]
        return self

    def stats(self) -> dict:
        """Its /_control/stats: attempts, faults served, attempts per second."""
        url = f"http://127.0.0.1:{self.rest_port}/_control/stats"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())

    def service_environment(self) -> dict[str, str]:
        """The service's variables for BACKEND=vertex against this fake, one worker."""
        return {
            "BACKEND": "vertex",
            "PROJECT_ID": "loadtest",
            "ENDPOINT_ID": "1234567890",
            "VERTEX_API_ENDPOINT": f"http://127.0.0.1:{self.grpc_port}",
            "WEB_CONCURRENCY": "1",  # Cloud Run's 1 vCPU: the sizing the issue measures
        }

    def __exit__(self, *_exc: object) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

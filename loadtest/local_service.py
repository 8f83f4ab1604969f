"""Start the prediction service locally under Gunicorn for a load test, and stop it afterwards.

The service runs exactly as in its container (`gunicorn -c service/gunicorn.conf.py
"service:create_app()"`, embedded model) but bound to a free port on 127.0.0.1. Gunicorn gets a
session of its own, so a Ctrl-C in the terminal reaches the load generator (which then ends the
run and judges it) and not the service it is still measuring; `stop()` ends it afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
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

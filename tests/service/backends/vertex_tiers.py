"""What the Vertex AI backend's tests share besides fixtures: the fake Vertex AI process's
handle, the tiers' log reader and the deadline and retry settings the tiers run with. (Tests
import these from here, not from conftest.py: `from conftest import` picks whichever conftest
module pytest loaded last when several test directories are named.)"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import requests

from tests.gunicorn_process import GunicornProcess


@dataclass
class FakeVertexProcess:
    """`python -m fakes.vertex_server`, steered over its control routes."""

    process: subprocess.Popen
    rest_port: int
    grpc_port: int

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def fault(self, kind: str, count: int | None = None, latency_ms: int = 0, **window) -> None:
        """Serve `kind`; `window` may give after_s and for_s (seconds from now)."""
        fault = {"kind": kind, "count": count, "latency_ms": latency_ms, **window}
        requests.post(f"{self.rest_url}/_control/fault", json=fault, timeout=5).raise_for_status()

    def latency(self, latency_ms: int) -> None:
        """Every answer after `latency_ms` (until reset)."""
        url = f"{self.rest_url}/_control/latency"
        requests.post(url, json={"latency_ms": latency_ms}, timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.rest_url}/_control/stats", timeout=5).json()

    def reset(self) -> None:
        requests.post(f"{self.rest_url}/_control/reset", timeout=5).raise_for_status()

    def attempts(self) -> int:
        return self.stats()["attempts"]


def log_records(server: GunicornProcess) -> list[dict]:
    """The JSON lines Gunicorn and the app wrote so far (other lines skipped)."""
    records = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


# The request deadline and the retry budget the two-tier tests hold the service to.
DEADLINE_SECONDS = 2.5
CALL_TIMEOUT_SECONDS = 1.0
RETRIES = 2
BREAKER_FAILURES = 4
BREAKER_RESET_SECONDS = 1.0

"""The two-tier target of `python -m loadtest --backend vertex-fake`: the repository's
wire-level Vertex AI server (`python -m fakes.vertex_server`) as a process, the service's
environment for BACKEND=vertex in front of it, and what the fake saw, written after the run."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from fakes.faults import FAULT_KINDS as ALL_FAULT_KINDS
from loadtest.local_service import STOP_TIMEOUT_S, ServiceStartError, gunicorn_config

BACKENDS = ("embedded", "vertex-fake")
# What --upstream-fault accepts: every kind the fake serves but "none".
FAULT_KINDS = tuple(kind for kind in ALL_FAULT_KINDS if kind != "none")


def parse_fault(text: str) -> tuple[str, float, float | None]:
    """'unavailable@20+20' -> ('unavailable', 20.0, 20.0); 'hang' -> ('hang', 0.0, None)."""
    kind, _, window = text.partition("@")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    after, _, duration = window.partition("+")
    try:
        start = float(after) if after else 0.0
        length = float(duration) if duration else None
    except ValueError:
        raise ValueError("expected KIND[@AFTER[+FOR]] with AFTER and FOR in seconds") from None
    if start < 0 or (length is not None and length <= 0):
        raise ValueError("AFTER must be >= 0 and FOR > 0")
    return kind, start, length


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


def write_upstream_stats(fake: LocalVertexFake, run_dir: Path) -> None:
    """What the upstream saw (calls, faults served, calls per second): upstream.json."""
    try:
        stats = fake.stats()
    except (OSError, ValueError) as error:
        print(f"loadtest: no upstream figures ({error})", file=sys.stderr)
        return
    (run_dir / "upstream.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(
        f"loadtest: the Vertex AI fake saw {stats['attempts']} calls "
        f"(faults served: {stats['faults_served'] or 'none'}); upstream.json",
        flush=True,
    )

"""Gunicorn settings for the prediction service on Cloud Run (and anywhere else).

    gunicorn -c service/gunicorn.conf.py "service:create_app()"

Sizing, for CPU-bound NumPy inference (about a millisecond per image) on Cloud Run's default
1 vCPU with concurrency 80:
- workers = the CPUs this container may use (WEB_CONCURRENCY overrides). One process per core
  runs inference in parallel; more processes than cores only add memory and context switches.
- gthread with THREADS (default 4) threads per worker: while one thread runs a forward pass
  (NumPy's matmul and Pillow's decoders release the GIL) the others read request bodies, answer
  health checks and write responses. Cloud Run's 80 concurrent requests queue inside the worker
  (worker_connections) rather than in 80 threads that would only contend for one core.
- BLAS threads are pinned to 1 per process, so workers x threads do not oversubscribe the CPU.

Start-up: no preload. Each worker builds the app itself (its own model copy is under 1 MB, and a
future gRPC client must not cross a fork); `create_app` loads the weights and runs the golden
self-test (the warm-up) before the worker's first accept(). Connections that arrive meanwhile
wait in the listen backlog.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from gunicorn import glogging

from service.config import ConfigError, Settings


def _available_cpus() -> int:
    """CPUs this process may use: affinity mask, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus or 1)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of at least 1")
    return int(raw)


_settings = Settings.from_env()  # fails here, before any worker starts, on a bad value

for _blas_variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_variable, "1")

# Cloud Run's contract: every interface, on PORT; Vertex AI's sets AIP_HTTP_PORT, which wins.
bind = [f"0.0.0.0:{_settings.aip_http_port or _settings.port}"]
workers = _positive_int("WEB_CONCURRENCY", _available_cpus())
# gthread, with requests that Gunicorn's parser rejects answered as JSON and logged like the
# app's own (service/server/rejections.py).
worker_class = "service.server.worker.Worker"
threads = _positive_int("THREADS", 4)
worker_connections = 1000

# Cloud Run sends SIGTERM, then SIGKILL 10 s later: finish in-flight requests within 8 s.
graceful_timeout = 8
# For gthread this is a heartbeat, not a request timeout: a worker whose main loop is stuck for
# 30 s is restarted. Decoding is bounded (MAX_PIXELS, MAX_BODY_BYTES), requests end far sooner.
timeout = 30
# Cloud Run's front end reuses connections; keep them a little longer than Gunicorn's 2 s.
keepalive = 5
# Recycle workers now and then (jittered, so they do not all restart together): a slow leak in
# a decoder cannot grow without bound. A restart costs a model load and a self-test (< 1 s), and
# while it runs that worker's share of the traffic waits. At 10,000 a busy instance (about
# 1,000 requests/s on 2 cores) recycled each worker every ~20 s: the benchmark saw 3
# replacements in one run. 100,000 (+/- 10,000) is a few minutes at full load and hours at
# ordinary load, still bounding a leak of a few kB per request to a few hundred MB.
max_requests = 100000
max_requests_jitter = 10000

# A gthread worker reads a request's headers and body in one of its THREADS threads, from a
# blocking socket without a timeout: a client that trickles its bytes (one now and then) holds
# that thread as long as it likes, and WEB_CONCURRENCY x THREADS such clients stall the
# instance. The deployment relies on Cloud Run's front end for this: clients talk to Google's
# front end, which buffers each request (HTTP/1 requests are capped at 32 MiB there) and
# forwards it to the container at data-centre speed. SLOW_CLIENT_TIMEOUT is the backstop for
# anything else in front of the container: see post_worker_init below.
slow_client_timeout = _positive_int("SLOW_CLIENT_TIMEOUT", 30)

preload_app = False
# Gunicorn 25+ opens a control socket at a fixed path ($HOME/.gunicorn/gunicorn.ctl): two
# instances on one machine would fight over it, and a container may not let us write there.
control_socket_disable = True
# The heartbeat file on tmpfs: an overlay /tmp in a container can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a tmpfs
# Cloud Run terminates TLS in front of the container: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# One JSON line per event: Gunicorn's own messages (boot, worker start/exit, errors) go through
# the same StructuredLogHandler as the app's. The access log stays off: the app writes one
# richer line per request (httpRequest, trace, prediction).
accesslog = None


class NoAccessLogLogger(glogging.Logger):
    """Gunicorn's logger without the access log. With logconfig_dict set, the stock logger
    counts the access log as enabled and builds every request's access-log atoms (headers,
    times, formatting: ~5% of a prediction's CPU) for a logger with no handler."""

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: the app logs each request itself (service/logs.py)."""


logger_class = NoAccessLogLogger
loglevel = _settings.log_level.lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _settings.log_level, "handlers": ["structured"]},
    "loggers": {
        "gunicorn.error": {
            "level": _settings.log_level,
            "handlers": ["structured"],
            "propagate": False,
            "qualname": "gunicorn.error",
        },
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "handlers": {
        "structured": {
            "class": "google.cloud.logging_v2.handlers.StructuredLogHandler",
            "stream": "ext://sys.stdout",
            "project_id": _settings.project_id,
        }
    },
    "formatters": {},
}


def post_worker_init(worker: Any) -> None:
    """Gunicorn hook, in each worker once the app is loaded."""
    # Pillow reports damaged files (a TIFF tag past the end of the file...) with warnings.warn:
    # route them through logging, as JSON lines, instead of plain text on stderr.
    logging.captureWarnings(True)
    if hasattr(worker, "tpool"):  # gthread: requests are handled in worker.handle(conn)
        worker.handle = _SlowClientGuard(worker.handle, slow_client_timeout).handle


class _SlowClientGuard:
    """Shuts the read side of a connection whose request has held a worker thread for more than
    `timeout` seconds. A read in progress then ends: during the headers Gunicorn closes the
    connection; during the body the app gets it cut short and answers a 4xx. A request already
    past its reads is unaffected (only reading is shut), so the bound is never hit by a
    well-behaved client: reads from Cloud Run's front end take milliseconds. The clock starts
    when a thread takes the connection, so N trickling clients delay others by at most about
    ceil(N / threads) x timeout, instead of for ever (tests/drills/test_fault_drills.py)."""

    def __init__(self, handle: Any, timeout: float) -> None:
        self._handle = handle
        self._timeout = timeout
        self._started: dict[Any, float] = {}  # connection -> when its thread took it
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="slow-client-guard", daemon=True).start()

    def handle(self, connection: Any) -> Any:
        with self._lock:
            self._started[connection] = time.monotonic()
        try:
            return self._handle(connection)
        finally:
            with self._lock:
                self._started.pop(connection, None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self._timeout / 4))
            cutoff = time.monotonic() - self._timeout
            with self._lock:
                expired = [conn for conn, started in self._started.items() if started < cutoff]
            for connection in expired:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RD)

"""How many workers, connections and requests in flight an instance runs, from the environment.

Read by service/gunicorn.conf.py in the master and by each worker (service/server/worker.py), so
that both see the same figures; a bad value stops the master before any worker starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service.config import ConfigError

# Cloud Run's default concurrency per instance (console default; gcloud and Terraform default
# to 80 x vCPU): the requests one instance is sized to hold in flight.
DEFAULT_CONCURRENCY = 80
# Connections one worker keeps open (gevent's pool): idle keep-alive and silent connections
# count too, so this is far above CONCURRENCY. An idle connection costs its greenlet and
# socket buffers (about 10 kB measured, README "Sizing"); the kernel's fd limit is raised to fit.
DEFAULT_WORKER_CONNECTIONS = 4000
DEFAULT_SLOW_CLIENT_TIMEOUT = 30
# Request bodies one worker holds in memory at once: six bodies of the 10 MiB maximum, or
# thousands of ordinary ones. Beyond it a request waits, unread, for its turn.
DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024
# gevent: the service's worker (service/server/worker.py); gthread: gunicorn's threaded worker,
# kept selectable so that the benchmarks can compare the two (README "Sizing").
WORKER_CLASSES = {
    "gevent": "service.server.worker.Worker",
    "gthread": "service.server.thread_worker.ThreadWorker",
}


def available_cpus() -> int:
    """CPUs this process may use: affinity mask, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus or 1)


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of at least 1")
    return int(raw)


@dataclass(frozen=True)
class Sizing:
    worker_class: str  # WORKER_CLASS: gevent (default) or gthread
    workers: int  # WEB_CONCURRENCY: processes, one per CPU by default
    threads: int  # THREADS: only for the gthread worker class (benchmarks compare it)
    concurrency: int  # CONCURRENCY: requests in flight per instance (Cloud Run's setting)
    worker_connections: int  # WORKER_CONNECTIONS: open connections per worker
    slow_client_timeout: int  # SLOW_CLIENT_TIMEOUT: seconds a request may spend reading
    body_bytes_in_flight: int  # MAX_BODY_BYTES_IN_FLIGHT: per worker

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Sizing:
        worker_class = environ.get("WORKER_CLASS", "").strip().lower() or "gevent"
        if worker_class not in WORKER_CLASSES:
            raise ConfigError(
                f"WORKER_CLASS={worker_class!r}: expected one of {', '.join(WORKER_CLASSES)}"
            )
        sizing = cls(
            worker_class=worker_class,
            workers=positive_int(environ, "WEB_CONCURRENCY", available_cpus()),
            threads=positive_int(environ, "THREADS", 4),
            concurrency=positive_int(environ, "CONCURRENCY", DEFAULT_CONCURRENCY),
            worker_connections=positive_int(
                environ, "WORKER_CONNECTIONS", DEFAULT_WORKER_CONNECTIONS
            ),
            slow_client_timeout=positive_int(
                environ, "SLOW_CLIENT_TIMEOUT", DEFAULT_SLOW_CLIENT_TIMEOUT
            ),
            body_bytes_in_flight=positive_int(
                environ, "MAX_BODY_BYTES_IN_FLIGHT", DEFAULT_MAX_BODY_BYTES_IN_FLIGHT
            ),
        )
        if sizing.worker_connections < sizing.requests_per_worker:
            raise ConfigError(
                f"WORKER_CONNECTIONS={sizing.worker_connections} is below CONCURRENCY per "
                f"worker ({sizing.requests_per_worker}): requests would wait for a connection"
            )
        return sizing

    @property
    def gunicorn_worker_class(self) -> str:
        return WORKER_CLASSES[self.worker_class]

    @property
    def requests_per_worker(self) -> int:
        """Each worker's share of CONCURRENCY (rounded up: the instance holds at least it)."""
        return math.ceil(self.concurrency / self.workers)

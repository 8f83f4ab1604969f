"""Gunicorn settings for the prediction service on Cloud Run (and anywhere else).

    gunicorn -c service/gunicorn.conf.py "service:create_app()"

Sizing (README "Sizing" has the measurements behind it):
- one gevent worker process per CPU this container may use (WEB_CONCURRENCY overrides), for
  both backends. A connection costs a greenlet, not a thread: the embedded backend's CPU-bound
  work runs one request at a time per core, as it would with threads held by the GIL, while a
  remote backend (Vertex AI) holds CONCURRENCY (Cloud Run's 80) requests in flight per
  instance, each waiting on the upstream for the cost of a greenlet. Idle, silent and slow
  connections hold no request slot, so health checks answer within a second whatever they do.
- reuse_port: each worker binds its own SO_REUSEPORT socket (gunicorn creates no shared
  listener then), and the kernel spreads new connections across the workers, instead of one
  busy worker's accept loop taking most of them.
- BLAS threads are pinned to 1 per process, so workers do not oversubscribe the CPU.

Start-up: no preload. Each worker builds the app itself (its own model copy is under 1 MB, and a
gRPC client must not cross a fork); `create_app` loads the weights and runs the golden
self-test (the warm-up) before the worker's first accept(). Connections that arrive meanwhile
wait in that worker's listen backlog.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from service.server.sizing import Sizing

# Fails here, before any worker starts, on a bad value (as Settings below).
_sizing = Sizing.from_env()
# Only in a process gunicorn started (`gunicorn ...` or `python -m gunicorn ...`), never in one
# that merely reads this file (the tests do).
_in_gunicorn = os.path.basename(os.path.dirname(sys.argv[0])) == "gunicorn" or (
    os.path.basename(sys.argv[0]) == "gunicorn"
)
if _sizing.worker_class == "gevent" and _in_gunicorn:
    # First, before anything imports urllib3 (the structured log handler below does, in the
    # master): gevent's patched ssl must be what urllib3 binds at import, or every HTTPS context
    # it makes in a worker (google-auth's token refresh) ends in RecursionError
    # (gevent/gevent#1016, benoitc/gunicorn#2796; tests/service/server/ checks it). The master
    # runs patched too, as gunicorn's own gevent worker expects of a preloaded app.
    from gevent import monkey

    monkey.patch_all()

from service.config import Settings  # noqa: E402
from service.server.hooks import (  # noqa: E402
    NoAccessLogLogger,
    SlowClientGuard,
    capture_warnings,
    guard_gthread_worker,
)

_settings = Settings.from_env()

for _blas_variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_variable, "1")

# Cloud Run's contract: every interface, on PORT; Vertex AI's sets AIP_HTTP_PORT, which wins.
bind = [f"0.0.0.0:{_settings.aip_http_port or _settings.port}"]
workers = _sizing.workers
# Both classes answer requests Gunicorn's parser rejects as JSON and log them like the app's
# own (service/server/rejections.py).
worker_class = _sizing.gunicorn_worker_class
# Only for WORKER_CLASS=gthread (the benchmarks compare it); the gevent worker ignores it.
threads = _sizing.threads
worker_connections = _sizing.worker_connections
reuse_port = True

# Cloud Run sends SIGTERM, then SIGKILL 10 s later: finish in-flight requests within 8 s.
graceful_timeout = 8
# A heartbeat, not a request timeout: a worker whose event loop is blocked for 30 s (one CPU-bound
# call that never yields) is restarted. Decoding is bounded (MAX_PIXELS, MAX_BODY_BYTES), and the
# upstream call has its own deadline, so requests end far sooner.
timeout = 30
# Cloud Run's front end reuses connections; keep them a little longer than Gunicorn's 2 s.
keepalive = 5
# Recycle workers now and then (jittered, so they do not all restart together): a slow leak in
# a decoder cannot grow without bound. A restart costs a model load and a self-test (< 1 s), and
# while it runs that worker's share of the traffic waits. At 10,000 a busy instance (about
# 1,000 requests/s on 2 cores) recycled each worker every ~20 s: the benchmark saw 3
# replacements in one run. 100,000 (+/- 10,000) is a few minutes at full load and hours at
# ordinary load, still bounding a leak of a few kB per request to a few hundred MB. With
# reuse_port a retiring worker closes its own listening socket: connections still in that
# socket's backlog are reset (the kernel migrates them only with net.ipv4.tcp_migrate_req=1),
# another reason to recycle rarely.
max_requests = 100000
max_requests_jitter = 10000

# Reads are bounded twice: a request's headers by `keepalive` (gevent's worker times out the
# read of every request line and headers, the first one included), and a request in progress by
# SLOW_CLIENT_TIMEOUT (service/server/hooks.py). Cloud Run's front end buffers each request
# (HTTP/1 requests are capped at 32 MiB there) and forwards it at data-centre speed; these are
# the backstop for anything else in front of the container.

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
    capture_warnings()
    if hasattr(worker, "tpool"):  # gthread: requests are handled in worker.handle(conn)
        guard_gthread_worker(worker, SlowClientGuard(_sizing.slow_client_timeout))

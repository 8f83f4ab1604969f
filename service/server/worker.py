"""The Gunicorn worker class: gevent, one greenlet per connection (README "Sizing" says why).

    worker_class = "service.server.worker.Worker"   (service/gunicorn.conf.py)

An idle keep-alive connection, a client that never sends a byte, a slow upload or a request
waiting 100 ms on Vertex AI each cost one greenlet (kilobytes), never one of a few threads, so
health checks answer while 80 requests wait upstream and thousands of connections idle. CPU
work (decoding, a forward pass) runs to completion on the worker's one core, as it would under
threads held by the GIL. What this class adds to gunicorn's GeventWorker:
- gRPC's gevent integration, switched on right after monkey-patching and before any channel is
  made (grpc.experimental.gevent.init_gevent; grpc/grpc#15071, #27340), for BACKEND=vertex;
- request bodies read before dispatch, and the requests in flight bounded at the worker's
  share of CONCURRENCY (in_flight.py);
- each request's reads bounded by SLOW_CLIENT_TIMEOUT (hooks.SlowClientGuard);
- the fd limit raised to fit WORKER_CONNECTIONS.
- requests Gunicorn's parser rejects answered as JSON with one request log line
  (RejectionsMixin, service/server/rejections.py).
"""

from __future__ import annotations

import importlib.util
import resource
from typing import Any

from gunicorn.workers.ggevent import GeventWorker

from service.config import Settings
from service.server.hooks import SlowClientGuard
from service.server.in_flight import InFlightLimit
from service.server.rejections import RejectionsMixin
from service.server.sizing import Sizing

# Descriptors a worker needs beyond its connections: logs, the model file, gRPC's pipes...
SPARE_FDS = 256
# Threads of gevent's hub pool beyond one per gRPC call in flight (DNS lookups, gRPC's own).
THREADPOOL_SPARE = 10


def raise_fd_limit(connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards connections + SPARE_FDS (never past the hard
    limit); return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def init_grpc_gevent(calls_in_flight: int) -> bool:
    """gRPC's gevent mode, when gRPC is installed (the `vertex` extra); True if switched on.

    In that mode each call waits for its completion on a native thread of gevent's hub
    threadpool (grpc/grpc#28276), which holds 10 threads by default: 10 calls in flight at
    most, whatever CONCURRENCY says. The pool is sized to the calls a worker may have in flight.
    """
    if importlib.util.find_spec("grpc") is None:
        return False
    import gevent
    from grpc.experimental import gevent as grpc_gevent

    size = calls_in_flight + THREADPOOL_SPARE
    gevent.config.threadpool_size = size
    gevent.get_hub().threadpool.maxsize = size
    grpc_gevent.init_gevent()
    return True


class Worker(RejectionsMixin, GeventWorker):
    """gevent worker with the service's bounds; see the module docstring."""

    settings: Settings
    sizing: Sizing
    guard: SlowClientGuard

    def patch(self) -> None:
        # Called by GeventWorker.init_process, after ours has read the settings.
        super().patch()  # gevent's monkey.patch_all() and the listening sockets
        if self.settings.backend == "vertex":  # the embedded service never loads gRPC
            init_grpc_gevent(self.sizing.requests_per_worker)

    def init_process(self) -> None:
        # Read once per worker; gunicorn.conf.py has already refused a bad value in the master.
        self.settings = Settings.from_env()
        self.sizing = Sizing.from_env()
        limit = raise_fd_limit(self.worker_connections)
        if limit < self.worker_connections + SPARE_FDS:
            self.log.warning(
                "open-file limit %d is below WORKER_CONNECTIONS=%d: connections beyond it are "
                "refused",
                limit,
                self.worker_connections,
            )
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = InFlightLimit(
            self.wsgi,
            self.sizing.requests_per_worker,
            max_body_bytes=self.settings.max_body_bytes,
            body_budget=self.sizing.body_bytes_in_flight,
            body_wait=self.sizing.slow_client_timeout,
        )
        self.guard = SlowClientGuard(self.sizing.slow_client_timeout)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        with self.guard.track(sock):
            return super().handle_request(listener_name, req, sock, addr)

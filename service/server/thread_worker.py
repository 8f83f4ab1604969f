"""Gunicorn's gthread worker with the service's rejections (WORKER_CLASS=gthread).

Kept selectable so that the benchmarks can compare it with the gevent worker (README "Sizing");
requests its parser refuses are answered as JSON like under the default worker.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

from service.server.rejections import RejectionsMixin


class ThreadWorker(RejectionsMixin, GunicornThreadWorker):
    """Gunicorn's gthread worker; requests its parser rejects are answered as JSON."""

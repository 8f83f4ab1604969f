"""Gunicorn's gevent worker with the service's rejections (gevent is not in the `serve` extra:
this module is imported only when a worker_class names it)."""

from __future__ import annotations

from gunicorn.workers.ggevent import GeventWorker as GunicornGeventWorker

from service.server.rejections import RejectionsMixin


class GeventWorker(RejectionsMixin, GunicornGeventWorker):
    """Gunicorn's gevent worker; requests its parser rejects are answered as JSON."""

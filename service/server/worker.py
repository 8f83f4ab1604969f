"""The Gunicorn worker class gunicorn.conf.py names: gthread with the service's rejections."""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker

from service.server.rejections import RejectionsMixin


class Worker(RejectionsMixin, ThreadWorker):
    """Gunicorn's gthread worker; requests its parser rejects are answered as JSON."""

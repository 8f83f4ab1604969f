"""Fashion-MNIST prediction service: a Flask app factory, served by Gunicorn.

    gunicorn -c service/gunicorn.conf.py "service:create_app()"

Each concern is a module with an `init_app` (logs, errors, timing, readiness) or a blueprint
(health, predict, model_server); `create_app` wires them together, builds the backend and
warms it up, so that a Gunicorn worker only takes traffic once the model answers. Every route
that predicts goes through service/inference.py.
"""

from __future__ import annotations

from typing import TextIO

from flask import Flask

from service.config import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "create_app"]


def create_app(settings: Settings | None = None, *, log_stream: TextIO | None = None) -> Flask:
    """The WSGI app. Settings come from the environment unless given; logs go to stdout."""
    # Imported here so that `service.config` stays importable without the serving stack
    # (gunicorn.conf.py reads it before a worker imports NumPy).
    from service import (
        admission,
        errors,
        fast_json,
        health,
        logs,
        model_server,
        openapi,
        predict,
        readiness,
        timing,
    )
    from service.server import http_edge

    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # no /static route: openapi.json lists them all
    app.config["SETTINGS"] = settings
    # Werkzeug answers 413 for a body over the limit before the view reads it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # A multipart form holds at most one file per instance (plus some slack for other fields).
    app.config["MAX_FORM_PARTS"] = settings.max_batch + 16
    fast_json.init_app(app)  # orjson; keeps "predictions" first and confidences in class order

    logs.init_app(app, settings, stream=log_stream)
    errors.init_app(app)
    admission.init_app(app, settings)  # before health: its self-test decodes images
    timing.init_app(app)
    http_edge.init_app(app, settings)  # after logs: a refused request is still logged
    readiness.init_app(app, settings)
    health.init_app(app)
    predict.init_app(app, settings)
    model_server.init_app(app, settings)
    openapi.init_app(app, settings)
    return app

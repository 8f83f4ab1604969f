"""Health (`GET /`) and readiness (`GET /ready`) routes; the state behind them lives in
service/readiness.py.

`GET /` answers 200 while the process can serve HTTP at all (Cloud Run's liveness check).
`GET /ready` answers 200 only once the backend is built and the golden self-test passed; until
then it answers 503 with the reason.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from service.readiness import current_readiness

blueprint = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.get("/")
def health() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@blueprint.get("/ready")
def ready() -> ResponseReturnValue:
    readiness = current_readiness()
    readiness.ready_backend()  # raises the 503 with the reason
    backend = readiness.backend
    return jsonify(
        {
            "status": "ready",
            "backend": backend.name if backend else None,
            "model": readiness.model,
            "self_test": {"samples": readiness.self_test_samples, "passed": True},
        }
    )

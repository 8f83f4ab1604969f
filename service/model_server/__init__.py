"""The service as a model server: the same image behind a Vertex AI endpoint or a KServe-style
client, next to its own `POST /predict`.

- `vertex_contract`: Vertex AI's custom-container contract (AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE;
  `{"instances", "parameters"}` in, AutoML image-classification predictions out).
- `open_inference`: the Open Inference Protocol (KServe V2) REST routes under `/v2`.

Both run the app's backend (the embedded model unless configured otherwise) through `infer`,
which applies the request deadline and records the same log fields as `POST /predict`.
"""

from __future__ import annotations

import time

import numpy as np
from flask import Flask, current_app, g

from service.backends import Backend, BackendResult
from service.config import Settings
from service.health import current_readiness
from service.timing import stage


def init_app(app: Flask, settings: Settings) -> None:
    from service.model_server import open_inference, vertex_contract

    vertex_contract.init_app(app, settings)
    open_inference.init_app(app)


def infer(images: np.ndarray) -> tuple[Backend, BackendResult]:
    """Probabilities for float32 images (N, 28, 28) in [0, 1] from the ready backend.

    Raises ApiError 503 when not ready, or the backend's UpstreamFailure (502/503/504).
    """
    settings: Settings = current_app.config["SETTINGS"]
    deadline = time.monotonic() + settings.predict_timeout_seconds
    backend = current_readiness().ready_backend()
    with stage("infer"):
        result = backend.predict(images, deadline=deadline)
    g.log_fields = {
        "backend": backend.name,
        "fallback": result.fallback,
        "model": {"name": result.model_name, "version": result.model_version},
        "instances": len(images),
        "prediction": {
            "class_ids": [int(i) for i in np.argmax(result.probabilities, axis=1)],
            "confidences": [round(float(p), 4) for p in np.max(result.probabilities, axis=1)],
        },
    }
    return backend, result

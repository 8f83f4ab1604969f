"""The service as a model server: the same image behind a Vertex AI endpoint or a KServe-style
client, next to its own `POST /predict`.

- `vertex_contract`: Vertex AI's custom-container contract (AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE;
  `{"instances", "parameters"}` in, AutoML image-classification predictions out).
- `open_inference`: the Open Inference Protocol (KServe V2) REST routes under `/v2`.

Both adapt their protocol to service/inference.py, the path `POST /predict` takes too: the same
readiness, batch rules, preprocessing, deadline and log fields.
"""

from __future__ import annotations

from flask import Flask

from service.config import Settings


def init_app(app: Flask, settings: Settings) -> None:
    from service.model_server import open_inference, vertex_contract

    vertex_contract.init_app(app, settings)
    open_inference.init_app(app)

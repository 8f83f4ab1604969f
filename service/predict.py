"""`POST /predict`: classify one image or a batch, one prediction per instance, in order."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from service.config import Settings
from service.errors import ApiError
from service.health import current_readiness
from service.labels import CLASS_NAMES
from service.preprocess import decode_image, raise_pillow_limit_to, to_model_input
from service.request_parsing import Instance, parse_instances
from service.timing import STAGES, expect_stages, stage

blueprint = Blueprint("predict", __name__)


def init_app(app: Flask, settings: Settings) -> None:
    raise_pillow_limit_to(settings.max_pixels)
    app.register_blueprint(blueprint)


@blueprint.post("/predict")
def predict() -> ResponseReturnValue:
    settings: Settings = current_app.config["SETTINGS"]
    deadline = time.monotonic() + settings.predict_timeout_seconds
    expect_stages(*STAGES)
    # The request's log line names the backend on an error too (not ready, bad input, upstream).
    g.log_fields = {"backend": settings.backend}
    backend = current_readiness().ready_backend()
    instances = parse_instances(request, settings.max_batch)
    batch = len(instances)
    model_inputs = np.empty((batch, 28, 28), dtype=np.float32)
    reports = []
    for index, instance in enumerate(instances):
        try:
            model_inputs[index], report = model_input(instance, settings.max_pixels)
        except ApiError as error:
            raise (error.at(f"instances[{index}]") if batch > 1 else error) from None
        reports.append(report)
    with stage("infer"):
        result = backend.predict(model_inputs, deadline=deadline)
    predictions = [
        _prediction(row, report) for row, report in zip(result.probabilities, reports, strict=True)
    ]
    g.log_fields = {
        "backend": backend.name,
        "fallback": result.fallback,
        "model": {"name": result.model_name, "version": result.model_version},
        "instances": batch,
        "prediction": {
            "labels": [p["label"] for p in predictions],
            "confidences": [round(p["confidence"], 4) for p in predictions],
        },
    }
    return jsonify(
        {
            "predictions": predictions,
            "model": {"name": result.model_name, "version": result.model_version},
            "backend": backend.name,
            "fallback": result.fallback,
        }
    )


def model_input(instance: Instance, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One instance as the model's input (float32 28x28) and its preprocessing report."""
    if instance.image_bytes is not None:
        with stage("decode"):
            decoded = decode_image(instance.image_bytes, max_pixels)
        gray, report = decoded.gray, dict(decoded.report)
    else:
        gray, report = instance.pixels, {"source": "pixels", "source_size": [28, 28]}
    with stage("preprocess"):
        pixels, steps = to_model_input(gray)
    report.update(steps)
    return pixels, report


def _prediction(probabilities: np.ndarray, report: dict[str, Any]) -> dict[str, Any]:
    class_id = int(np.argmax(probabilities))
    return {
        "label": CLASS_NAMES[class_id],
        "class_id": class_id,
        "confidence": round(float(probabilities[class_id]), 6),
        "confidences": {
            name: round(float(p), 6) for name, p in zip(CLASS_NAMES, probabilities, strict=True)
        },
        "preprocessing": report,
    }

"""`POST /predict`: classify one image or a batch, one prediction per instance, in order."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service import inference
from service.config import Settings
from service.labels import CLASS_NAMES
from service.preprocess import raise_pillow_limit_to
from service.request_parsing import parse_instances
from service.timing import STAGES, expect_stages

blueprint = Blueprint("predict", __name__)


def init_app(app: Flask, settings: Settings) -> None:
    raise_pillow_limit_to(settings.max_pixels)
    app.register_blueprint(blueprint)


@blueprint.post("/predict")
def predict() -> ResponseReturnValue:
    settings: Settings = current_app.config["SETTINGS"]
    expect_stages(*STAGES)
    # Not ready is a 503 whatever the body holds: checked before the body is read.
    backend = inference.ready_backend()
    instances = parse_instances(request, settings.max_batch)
    images, reports = inference.model_inputs(instances, settings.max_pixels)
    outcome = inference.infer(images, backend)
    result = outcome.result
    predictions = [
        _prediction(row, class_id, report)
        for row, class_id, report in zip(
            result.probabilities, outcome.class_ids.tolist(), reports, strict=True
        )
    ]
    return jsonify(
        {
            "predictions": predictions,
            "model": {"name": result.model_name, "version": result.model_version},
            "backend": backend.name,
            "fallback": result.fallback,
        }
    )


def _prediction(probabilities: np.ndarray, class_id: int, report: dict[str, Any]) -> dict[str, Any]:
    values = probabilities.tolist()
    return {
        "label": CLASS_NAMES[class_id],
        "class_id": class_id,
        "confidence": round(values[class_id], 6),
        "confidences": {name: round(p, 6) for name, p in zip(CLASS_NAMES, values, strict=True)},
        "preprocessing": report,
    }

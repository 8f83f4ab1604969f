"""Vertex AI's custom-container contract, so this image can be the model behind an endpoint.

Vertex AI sends `GET $AIP_HEALTH_ROUTE` (200 once ready) and `POST $AIP_PREDICT_ROUTE` with
`{"instances": [...], "parameters": {...}}` to the port in AIP_HTTP_PORT (Gunicorn binds it).
The answer is `{"predictions": [...]}`, one AutoML image-classification prediction per
instance: `ids` (class ids as strings), `displayNames`, `confidences`, most confident first,
filtered by `confidenceThreshold` (default 0) and cut to `maxPredictions` (default 10).

Instances, in any mix:
- `{"content": base64 image, "mimeType": ...}` (AutoML's format) or `{"pixels": 28x28 0-255}`,
  decoded and preprocessed exactly as `POST /predict` does;
- 784 numbers in [0, 1]: a Fashion-MNIST image (light on black) flattened row-major, used as
  is (the `vector` format of VERTEX_INSTANCE_FORMAT).
Errors use this API's `{"error": {"code", "message"}}` shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service import inference
from service.backends.vertex_format import automl_prediction
from service.config import ConfigError, Settings
from service.errors import ApiError
from service.inference import Instance
from service.readiness import current_readiness
from service.request_parsing import json_instance, parse_json

VECTOR_LENGTH = 28 * 28


def init_app(app: Flask, settings: Settings) -> None:
    """Register the two routes where AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE say."""
    taken = {rule.rule for rule in app.url_map.iter_rules()}
    for variable, route in (
        ("AIP_HEALTH_ROUTE", settings.aip_health_route),
        ("AIP_PREDICT_ROUTE", settings.aip_predict_route),
    ):
        if route in taken:
            raise ConfigError(f"{variable}={route!r}: the service already serves that path")
    blueprint = Blueprint("vertex_contract", __name__)
    blueprint.add_url_rule(settings.aip_health_route, "health", vertex_health, methods=["GET"])
    blueprint.add_url_rule(settings.aip_predict_route, "predict", vertex_predict, methods=["POST"])
    app.register_blueprint(blueprint)


def vertex_health() -> ResponseReturnValue:
    reason = current_readiness().not_ready_reason()
    if reason is not None:
        raise ApiError(503, "NOT_READY", f"The service is not ready: {reason}.")
    return jsonify({"status": "ready"})


def vertex_predict() -> ResponseReturnValue:
    settings: Settings = current_app.config["SETTINGS"]
    if request.mimetype != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request as application/json.")
    body = parse_json(request.get_data(cache=False))
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise ApiError(400, "INVALID_REQUEST", 'The body must be {"instances": [...]}.')
    items = body["instances"]
    inference.check_batch(len(items), settings.max_batch)
    threshold, limit = _parameters(body)
    instances = [_instance(item, index) for index, item in enumerate(items)]
    images, _reports = inference.model_inputs(instances, settings.max_pixels, always_locate=True)
    outcome = inference.infer(images)
    return jsonify(
        {
            "predictions": [
                automl_prediction(row, threshold, limit) for row in outcome.result.probabilities
            ]
        }
    )


def _parameters(body: dict[str, Any]) -> tuple[float, int]:
    """confidenceThreshold in [0, 1] and maxPredictions >= 1, with AutoML's defaults."""
    if "parameters" not in body:
        return 0.0, 10
    parameters = body["parameters"]
    if not isinstance(parameters, dict):
        raise ApiError(400, "INVALID_PARAMETERS", '"parameters" must be an object.')
    threshold = parameters.get("confidenceThreshold", 0.0)
    limit = parameters.get("maxPredictions", 10)
    if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:
        raise ApiError(
            400, "INVALID_PARAMETERS", "parameters.confidenceThreshold must be a number in [0, 1]."
        )
    if not _is_number(limit) or limit != int(limit) or limit < 1:
        raise ApiError(
            400, "INVALID_PARAMETERS", "parameters.maxPredictions must be a whole number >= 1."
        )
    return float(threshold), int(limit)


def _instance(item: Any, index: int) -> Instance:
    """One instance: a 784-number vector is the model's input as is; an object is decoded."""
    if isinstance(item, list):
        return Instance(tensor=_vector(item, index))
    if isinstance(item, dict) and not isinstance(item.get("mimeType", ""), str):
        raise ApiError(400, "INVALID_REQUEST", f"instances[{index}].mimeType must be a string.")
    return json_instance(item, index)


def _vector(values: list[Any], index: int) -> np.ndarray:
    where = f"instances[{index}]"
    if len(values) != VECTOR_LENGTH or not all(_is_number(value) for value in values):
        raise ApiError(
            422, "INVALID_VECTOR", f"{where}: a vector instance is {VECTOR_LENGTH} numbers."
        )
    vector = np.asarray(values, dtype=np.float32)
    if vector.min() < 0.0 or vector.max() > 1.0:
        raise ApiError(422, "PIXEL_OUT_OF_RANGE", f"{where}: vector values must lie in [0, 1].")
    return vector.reshape(28, 28)


def _is_number(value: Any) -> bool:
    # bool is an int subclass: `true` must not pass for 1.
    return type(value) in (int, float) and math.isfinite(value)

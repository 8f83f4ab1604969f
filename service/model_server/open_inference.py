"""The Open Inference Protocol (KServe V2) over REST, for the model `fashion-mnist`.

Spec: kserve/open-inference-protocol, specification/protocol/inference_rest.md. Served:
`GET /v2` (server metadata), `GET /v2/health/live`, `GET /v2/health/ready`,
`GET /v2/models/{name}` (model metadata), `GET /v2/models/{name}/ready` and
`POST /v2/models/{name}/infer`. Version-specific routes (optional in the spec) are not.

The model is the classifier itself, so the infer input is its tensor, not an upload: `image`,
shape [N, 28, 28], light garment on black as in the data set, no preprocessing. Datatype UINT8
(0-255, as in the data set files) or FP32 (0.0-1.0); data nested or flattened, row-major.
Outputs: `probabilities` (FP32 [N, 10], class order of the metadata's `labels`) and `label`
(BYTES [N], the class names); a request's `outputs` selects among them. Errors are
`{"error": "message"}`, as the spec prescribes.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from service import inference
from service.errors import ApiError
from service.labels import CLASS_NAMES
from service.readiness import current_readiness
from service.request_parsing import parse_json
from service.resilience import UpstreamFailure
from service.server.request_line import is_open_inference_path

MODEL_NAME = "fashion-mnist"
INPUT_NAME = "image"
OUTPUT_NAMES = ("probabilities", "label")
DATATYPE_RANGES = {"UINT8": (int, 255), "FP32": ((int, float), 1.0)}
PLATFORMS = {"embedded": "numpy", "vertex": "vertex-ai"}

blueprint = Blueprint("open_inference", __name__, url_prefix="/v2")


class InferenceError(Exception):
    """A request the protocol answers with `{"error": message}` and `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    # 404 and 405 come from routing, before any blueprint is chosen, so the blueprint's own
    # handler never sees them: answer them in the protocol's shape for paths under /v2, and
    # hand every other path to the app's generic handler (service/errors.py).
    generic = app.error_handler_spec[None][None][HTTPException]

    def routing_error(error: HTTPException) -> ResponseReturnValue:
        if is_open_inference_path(request.path):
            response = _http_error(error)
            allowed = getattr(error, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
            return response
        return generic(error)

    app.register_error_handler(404, routing_error)
    app.register_error_handler(405, routing_error)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@blueprint.errorhandler(InferenceError)
def _inference_error(error: InferenceError) -> Response:
    return _error(error.status, error.message)


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return _error(error.status, error.message)


@blueprint.errorhandler(UpstreamFailure)
def _upstream_failure(error: UpstreamFailure) -> Response:
    retry = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return _error(error.status, error.message, retry)


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return _error(error.code or 500, error.description or error.name)


@blueprint.get("")
def server_metadata() -> ResponseReturnValue:
    try:
        version = metadata.version("fashion-serve")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return jsonify({"name": "fashion-serve", "version": version, "extensions": []})


@blueprint.get("/health/live")
def server_live() -> ResponseReturnValue:
    return jsonify({"live": True})


@blueprint.get("/health/ready")
def server_ready() -> ResponseReturnValue:
    _require_ready()
    return jsonify({"ready": True})


@blueprint.get("/models/<model_name>")
def model_metadata(model_name: str) -> ResponseReturnValue:
    _require_model(model_name)
    backend = current_readiness().backend
    platform = PLATFORMS.get(backend.name, backend.name) if backend else "unknown"
    return jsonify(
        {
            "name": MODEL_NAME,
            "platform": platform,
            "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [-1, 28, 28]}],
            "outputs": [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
            ],
            # An extension of the spec's object: what each of the 10 probabilities means.
            "labels": list(CLASS_NAMES),
        }
    )


@blueprint.get("/models/<model_name>/ready")
def model_ready(model_name: str) -> ResponseReturnValue:
    _require_model(model_name)
    _require_ready()
    return jsonify({"name": MODEL_NAME, "ready": True})


@blueprint.post("/models/<model_name>/infer")
def model_infer(model_name: str) -> ResponseReturnValue:
    _require_model(model_name)
    if request.mimetype != "application/json":
        raise InferenceError("Send the inference request as application/json.", 415)
    body = parse_json(request.get_data(cache=False))
    if not isinstance(body, dict):
        raise InferenceError("The inference request must be a JSON object.")
    request_id = body.get("id")
    if "id" in body and not isinstance(request_id, str):
        raise InferenceError('"id" must be a string.')
    _check_parameters(body, "parameters")
    wanted = _requested_outputs(body)
    images = _input_images(body.get("inputs"))
    outcome = inference.infer(images)
    result, count = outcome.result, len(images)
    outputs = {
        "probabilities": {
            "name": "probabilities",
            "shape": [count, len(CLASS_NAMES)],
            "datatype": "FP32",
            "data": [float(p) for p in result.probabilities.reshape(-1)],
        },
        "label": {
            "name": "label",
            "shape": [count],
            "datatype": "BYTES",
            "data": [CLASS_NAMES[i] for i in outcome.class_ids.tolist()],
        },
    }
    response: dict[str, Any] = {"model_name": MODEL_NAME}
    if request_id is not None:
        response["id"] = request_id
    response["parameters"] = {
        "backend": outcome.backend.name,
        "fallback": result.fallback,
        "model_version": result.model_version,
    }
    response["outputs"] = [outputs[name] for name in wanted]
    return jsonify(response)


def _require_model(model_name: str) -> None:
    if model_name != MODEL_NAME:
        raise InferenceError(f"Unknown model {model_name!r}; this server has {MODEL_NAME!r}.", 404)


def _require_ready() -> None:
    reason = current_readiness().not_ready_reason()
    if reason is not None:
        raise InferenceError(f"Not ready: {reason}.", 503)


def _requested_outputs(body: dict[str, Any]) -> list[str]:
    if "outputs" not in body:
        return list(OUTPUT_NAMES)
    outputs = body["outputs"]
    if not isinstance(outputs, list) or not outputs:
        raise InferenceError('"outputs" must be a non-empty list of {"name": ...} objects.')
    names = []
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name in OUTPUT_NAMES:
            _check_parameters(output, f"outputs[{index}].parameters")
        if name not in OUTPUT_NAMES:
            raise InferenceError(
                f"outputs[{index}]: unknown output {name!r}; expected one of {list(OUTPUT_NAMES)}."
            )
        names.append(name)
    return names


def _input_images(inputs: Any) -> np.ndarray:
    """The one input tensor as float32 images (N, 28, 28) in [0, 1]."""
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InferenceError(f'"inputs" must hold exactly one tensor, named {INPUT_NAME!r}.')
    tensor = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise InferenceError(f"Unknown input {tensor.get('name')!r}; expected {INPUT_NAME!r}.")
    _check_parameters(tensor, "inputs[0].parameters")
    if "binary_data_size" in (tensor.get("parameters") or {}):
        raise InferenceError("The binary tensor data extension is not supported; send JSON data.")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPE_RANGES:
        raise InferenceError(f"Datatype {datatype!r} is not accepted; use UINT8 or FP32.")
    count = _batch_size(tensor.get("shape"))
    values = _flatten(tensor.get("data"))
    if len(values) != count * 28 * 28:
        raise InferenceError(
            f"The data holds {len(values)} values; shape {tensor['shape']} needs {count * 784}."
        )
    kinds, top = DATATYPE_RANGES[datatype]
    for value in values:
        if type(value) not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise InferenceError(f"{value!r} is not a {datatype} value.")
    pixels = np.asarray(values, dtype=np.float64)
    if pixels.min() < 0 or pixels.max() > top:
        raise InferenceError(f"{datatype} values must lie within 0 and {top}.")
    return (pixels / top).astype(np.float32).reshape(count, 28, 28)


def _check_parameters(owner: dict[str, Any], where: str) -> None:
    """`owner["parameters"]`, if present, is the spec's $parameters: an object of string,
    number or boolean values (null is not one)."""
    if "parameters" not in owner:
        return
    parameters = owner["parameters"]
    if not isinstance(parameters, dict) or not all(
        isinstance(value, str | int | float) for value in parameters.values()
    ):
        raise InferenceError(f'"{where}" must be an object of string, number or boolean values.')


def _batch_size(shape: Any) -> int:
    max_batch = current_app.config["SETTINGS"].max_batch
    valid = (
        isinstance(shape, list)
        and len(shape) == 3
        and all(type(dimension) is int for dimension in shape)
        and shape[1:] == [28, 28]
        and shape[0] >= 1
    )
    if not valid:
        raise InferenceError(f"The input shape must be [N, 28, 28] with N >= 1, not {shape}.")
    inference.check_batch(shape[0], max_batch)  # an ApiError: answered in the spec's shape
    return shape[0]


def _flatten(data: Any) -> list[Any]:
    """Tensor data, nested or flat, as one row-major list."""
    if not isinstance(data, list):
        raise InferenceError('"data" must be a JSON array.')
    flat: list[Any] = []
    pending = [iter(data)]
    while pending:
        for item in pending[-1]:
            if isinstance(item, list):
                pending.append(iter(item))
                break
            flat.append(item)
        else:
            pending.pop()
    return flat

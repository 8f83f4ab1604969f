"""The one place where a request's instances become predictions.

Every route family adapts to it: `POST /predict` (service/predict.py), Vertex AI's contract
(service/model_server/vertex_contract.py) and the Open Inference Protocol
(service/model_server/open_inference.py) each parse their own body into `Instance`s or a model
tensor, then share these steps:

1. `ready_backend()`: the backend, or 503 `NOT_READY`; starts the request's deadline and names
   the backend in the request's log line from then on (an error line names it too);
2. `check_batch()`: the empty-batch and batch-size rules (422 `EMPTY_BATCH`, 413
   `BATCH_TOO_LARGE`);
3. `model_inputs()`: decode and preprocess each instance into the model's input, an error
   located at `instances[i]`;
4. `infer()`: the forward pass (timed as the `infer` stage) and the log line's prediction
   fields, built here once for every route.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app, g

from service.backends import Backend, BackendResult
from service.config import Settings
from service.errors import ApiError
from service.labels import CLASS_NAMES
from service.preprocess import MODEL_SIZE, decode_image, to_model_input
from service.readiness import current_readiness
from service.timing import stage


@dataclass(frozen=True, slots=True)
class Instance:
    """One thing to classify, in one of three forms: encoded image bytes (decoded and
    preprocessed), pixels (float64 28x28, 0-255; preprocessed), or a tensor that already is
    the model's input (float32 28x28 in [0, 1], light on black; used as is)."""

    image_bytes: bytes | None = None
    pixels: np.ndarray | None = None
    tensor: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Inference:
    """What the backend answered for a batch, and which backend answered."""

    backend: Backend
    result: BackendResult
    class_ids: np.ndarray  # int (N,), the most probable class of each image


def ready_backend() -> Backend:
    """The ready backend, or ApiError 503 NOT_READY. Starts the request's deadline."""
    settings: Settings = current_app.config["SETTINGS"]
    g.inference_deadline = time.monotonic() + settings.predict_timeout_seconds
    # The request's log line names the backend on an error too (not ready, bad input, upstream).
    g.log_fields = {"backend": settings.backend}
    return current_readiness().ready_backend()


def check_batch(count: int, max_batch: int) -> None:
    """The batch rules every route shares: at least one instance, at most MAX_BATCH."""
    if count == 0:
        raise ApiError(422, "EMPTY_BATCH", "The request has no instances to classify.")
    if count > max_batch:
        raise ApiError(
            413,
            "BATCH_TOO_LARGE",
            f"The request has {count} instances; the limit is {max_batch} (MAX_BATCH).",
        )


def model_inputs(
    instances: Sequence[Instance], max_pixels: int, *, always_locate: bool = False
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The batch as the model's input (float32 (N, 28, 28)) and each instance's preprocessing
    report. An instance's error names it (`instances[3]: ...`) in a batch, or always."""
    batch = len(instances)
    images = np.empty((batch, MODEL_SIZE, MODEL_SIZE), dtype=np.float32)
    reports = []
    for index, instance in enumerate(instances):
        try:
            images[index], report = model_input(instance, max_pixels)
        except ApiError as error:
            located = always_locate or batch > 1
            raise (error.at(f"instances[{index}]") if located else error) from None
        reports.append(report)
    return images, reports


def model_input(instance: Instance, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One instance as the model's input (float32 28x28) and its preprocessing report."""
    if instance.tensor is not None:
        return instance.tensor, {"source": "tensor"}
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


def infer(images: np.ndarray, backend: Backend | None = None) -> Inference:
    """Probabilities for float32 images (N, 28, 28) in [0, 1].

    `backend` is the one `ready_backend()` returned earlier in the request, else it is looked
    up now. Raises ApiError 503 when not ready, or the backend's UpstreamFailure (502/503/504).
    """
    if backend is None:
        backend = ready_backend()
    with stage("infer"):
        result = backend.predict(images, deadline=g.inference_deadline)
    probabilities = result.probabilities
    class_ids = np.argmax(probabilities, axis=1)
    top = probabilities[np.arange(len(class_ids)), class_ids]
    g.log_fields = {
        "backend": backend.name,
        "fallback": result.fallback,
        "model": {"name": result.model_name, "version": result.model_version},
        "instances": len(images),
        "prediction": {
            "labels": [CLASS_NAMES[i] for i in class_ids.tolist()],
            "confidences": [round(p, 4) for p in top.tolist()],
        },
    }
    return Inference(backend, result, class_ids)

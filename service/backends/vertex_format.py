"""Vertex AI instance and prediction formats, both ways, as plain JSON-able Python values.

Two instance formats, chosen to match the deployed model (`VERTEX_INSTANCE_FORMAT`):
- `automl-image`: `{"content": base64 PNG, "mimeType": "image/png"}`, the preprocessed 28×28
  image as 8-bit grayscale (light garment on black), with parameters `confidenceThreshold` and
  `maxPredictions`; the answer per instance is `{"ids", "displayNames", "confidences"}`.
- `vector`: the same image flattened row-major to 784 floats in [0, 1]; the answer per instance
  is a list of 10 class probabilities (what a custom-trained Keras/PyTorch model returns).

Parsing accepts either answer shape whatever was sent, and checks it: a wrong answer must become
a clean 502, never a garbled prediction.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
from PIL import Image

from service.config import VERTEX_INSTANCE_FORMATS
from service.labels import CLASS_NAMES

AUTOML_IMAGE, VECTOR = VERTEX_INSTANCE_FORMATS  # named once, in service/config.py
NUM_CLASSES = len(CLASS_NAMES)
# Ask AutoML for every class so that the response can carry the full distribution.
AUTOML_PARAMETERS: dict[str, Any] = {"confidenceThreshold": 0.0, "maxPredictions": NUM_CLASSES}

_CLASS_BY_NAME = {name.casefold(): index for index, name in enumerate(CLASS_NAMES)}
_CLASS_BY_NAME.update({str(index): index for index in range(NUM_CLASSES)})


class MalformedPrediction(ValueError):
    """The endpoint answered, but not with predictions this service can use."""


def encode_instances(images: np.ndarray, instance_format: str) -> list[Any]:
    """Instances for float32 images (N, 28, 28) in [0, 1]."""
    if instance_format == AUTOML_IMAGE:
        return [{"content": png_base64(image), "mimeType": "image/png"} for image in images]
    if instance_format == VECTOR:
        return [image.reshape(-1).astype(float).tolist() for image in images]
    expected = VERTEX_INSTANCE_FORMATS
    raise ValueError(f"unknown instance format {instance_format!r}; expected {expected}")


def request_parameters(instance_format: str) -> dict[str, Any] | None:
    return dict(AUTOML_PARAMETERS) if instance_format == AUTOML_IMAGE else None


def png_base64(image: np.ndarray) -> str:
    """A [0, 1] float image as a base64 8-bit grayscale PNG."""
    pixels = np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def probabilities_from_predictions(predictions: list[Any], expected: int) -> np.ndarray:
    """float32 (expected, 10) from an endpoint's predictions, or MalformedPrediction."""
    if len(predictions) != expected:
        raise MalformedPrediction(f"{len(predictions)} predictions for {expected} instances")
    rows = [_row(prediction, index) for index, prediction in enumerate(predictions)]
    return np.asarray(rows, dtype=np.float32).reshape(expected, NUM_CLASSES)


def _row(prediction: Any, index: int) -> list[float]:
    if isinstance(prediction, dict):
        return _automl_row(prediction, index)
    if isinstance(prediction, list):
        return _vector_row(prediction, index)
    raise MalformedPrediction(f"prediction {index} is a {type(prediction).__name__}")


def _vector_row(values: list[Any], index: int) -> list[float]:
    scores = _finite_non_negative(values, f"prediction {index}")
    if len(scores) != NUM_CLASSES or sum(scores) <= 0.0:
        raise MalformedPrediction(f"prediction {index} has {len(scores)} scores, expected 10")
    total = sum(scores)
    return [score / total for score in scores]


def _automl_row(prediction: dict[str, Any], index: int) -> list[float]:
    """Map AutoML's top-k answer onto the 10 classes.

    Classes AutoML left out (maxPredictions < 10, or under confidenceThreshold) share the
    unreported probability mass equally. Each left-out class scored at most the lowest reported
    one, so their mean does too: this never changes which class wins or the order of the
    reported ones.
    """
    names = prediction.get("displayNames")
    confidences = prediction.get("confidences")
    if not isinstance(names, list) or not isinstance(confidences, list):
        raise MalformedPrediction(f"prediction {index} lacks displayNames/confidences lists")
    if len(names) != len(confidences) or not names:
        raise MalformedPrediction(f"prediction {index}: {len(names)} names, {len(confidences)}")
    scores = _finite_non_negative(confidences, f"prediction {index}")
    row = [math.nan] * NUM_CLASSES
    for name, score in zip(names, scores, strict=True):
        class_id = _CLASS_BY_NAME.get(str(name).casefold())
        if class_id is None:
            raise MalformedPrediction(
                f"prediction {index}: label {name!r} is not a Fashion-MNIST class name"
            )
        row[class_id] = score
    reported = sum(scores)
    if reported > 1.0:  # a multi-label model, or rounding: renormalise what was reported
        row = [score / reported if not math.isnan(score) else score for score in row]
        reported = 1.0
    missing = [i for i, score in enumerate(row) if math.isnan(score)]
    share = (1.0 - reported) / len(missing) if missing else 0.0
    return [share if math.isnan(score) else score for score in row]


def _finite_non_negative(values: list[Any], where: str) -> list[float]:
    scores = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MalformedPrediction(f"{where}: {value!r} is not a number")
        if not math.isfinite(value) or value < 0:
            raise MalformedPrediction(f"{where}: {value!r} is not a probability")
        scores.append(float(value))
    return scores


def automl_prediction(
    probabilities: np.ndarray, confidence_threshold: float = 0.0, max_predictions: int = 10
) -> dict[str, list[Any]]:
    """One image's answer in the AutoML image-classification shape, most confident first."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    kept = [int(i) for i in order if probabilities[i] >= confidence_threshold][:max_predictions]
    return {
        "ids": [str(i) for i in kept],
        "displayNames": [CLASS_NAMES[i] for i in kept],
        "confidences": [float(probabilities[i]) for i in kept],
    }

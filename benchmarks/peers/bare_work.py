"""The bare work of a prediction, shared by the peer apps: decode the PNG, one forward pass of
the service's own NumPy model, and a small JSON-ready answer. No preprocessing report, bounds,
log line or timing: the least a server must do to answer `POST /predict` for a 28x28 image."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from service.labels import CLASS_NAMES
from service.model import load_classifier

_classifier = load_classifier(None)


def predict(body: bytes) -> dict[str, Any]:
    image = Image.open(io.BytesIO(body)).convert("L")
    images = np.asarray(image, dtype=np.float32)[np.newaxis] / 255.0
    probabilities = _classifier.predict_proba(images)[0]
    class_id = int(np.argmax(probabilities))
    return {
        "label": CLASS_NAMES[class_id],
        "class_id": class_id,
        "confidence": float(probabilities[class_id]),
    }

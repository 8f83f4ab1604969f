"""Images to send to the container: the committed golden samples and the official test set."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.model import golden_samples
from service.model.dataset import DatasetMissingError, load_split


def png_bytes(pixels: np.ndarray) -> bytes:
    """A 28x28 uint8 Fashion-MNIST image as the PNG file a client would upload."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def golden_pngs() -> list[tuple[bytes, int]]:
    """The golden samples (one official test image per class) as (PNG, label)."""
    images, labels = golden_samples()
    return [(png_bytes(image), int(label)) for image, label in zip(images, labels, strict=True)]


def official_test_pngs(count: int) -> list[tuple[bytes, int]]:
    """`count` official test images spread evenly over the test set, as (PNG, label)."""
    try:
        images, labels = load_split("test")
    except DatasetMissingError as error:
        pytest.skip(str(error))
    indices = np.linspace(0, len(labels) - 1, count).astype(int)
    return [(png_bytes(images[i]), int(labels[i])) for i in indices]

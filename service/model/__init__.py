"""The embedded Fashion-MNIST classifier: weights exported from PyTorch, inference in NumPy.

`weights.npz` holds, for each layer i, `conv{i}.weight` (9 * in, out), `conv{i}.bias`,
`conv{i}.pool` (0-d bool), then `dense{j}.weight` (in, out) and `dense{j}.bias`, plus `metadata`
(a JSON string: architecture and how the weights were trained). BatchNorm is already folded in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from service.model.network import ConvLayer, DenseLayer, Network

MODEL_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS_PATH = MODEL_DIR / "weights.npz"
GOLDEN_PATH = MODEL_DIR / "golden.npz"
MODEL_NAME = "fashion-mnist-cnn"
IMAGE_SHAPE = (28, 28)


class WeightsFormatError(ValueError):
    """The weights file does not describe a network this module can run."""


class Classifier:
    """Fashion-MNIST CNN: float32 images (N, 28, 28) in [0, 1] to class probabilities (N, 10)."""

    def __init__(self, network: Network, version: str, metadata: dict[str, Any]) -> None:
        self.name = MODEL_NAME
        self.version = version
        self.metadata = metadata
        self._network = network

    @property
    def parameter_count(self) -> int:
        """Weights and biases after BatchNorm folding."""
        layers = (*self._network.convs, *self._network.dense)
        return sum(layer.weight.size + layer.bias.size for layer in layers)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities, float32 (N, 10), one row per image, rows sum to 1."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
        return self._network.predict_proba(images)


def load_classifier(path: Path | None = None) -> Classifier:
    """Load the committed weights (or those at `path`); the version hashes the weight values."""
    path = DEFAULT_WEIGHTS_PATH if path is None else Path(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    network = network_from_arrays(arrays, source=str(path))
    metadata = json.loads(str(arrays["metadata"])) if "metadata" in arrays else {}
    return Classifier(network, weights_version(arrays), metadata)


def weights_version(arrays: dict[str, np.ndarray]) -> str:
    """Short hash of the weight values alone: the same training command gives the same version
    (the .npz bytes differ between runs by zip timestamps and the recorded training time)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != "metadata":
            array = np.ascontiguousarray(arrays[name])
            digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()[:12]


def network_from_arrays(arrays: dict[str, np.ndarray], source: str = "weights") -> Network:
    """Build the NumPy network from the exported arrays, checking that the shapes chain."""
    convs: list[ConvLayer] = []
    channels = 1
    while f"conv{len(convs)}.weight" in arrays:
        prefix = f"conv{len(convs)}"
        weight = arrays[f"{prefix}.weight"].astype(np.float32)
        if weight.ndim != 2 or weight.shape[0] != 9 * channels:
            raise WeightsFormatError(f"{source}: {prefix}.weight has shape {weight.shape}")
        bias = arrays[f"{prefix}.bias"].astype(np.float32)
        convs.append(ConvLayer(weight, bias, bool(arrays[f"{prefix}.pool"])))
        channels = weight.shape[1]
    side = IMAGE_SHAPE[0]
    for conv in convs:
        side = side // 2 if conv.pool else side
    features = side * side * channels
    dense: list[DenseLayer] = []
    while f"dense{len(dense)}.weight" in arrays:
        prefix = f"dense{len(dense)}"
        weight = arrays[f"{prefix}.weight"].astype(np.float32)
        if weight.ndim != 2 or weight.shape[0] != features:
            raise WeightsFormatError(f"{source}: {prefix}.weight has shape {weight.shape}")
        dense.append(DenseLayer(weight, arrays[f"{prefix}.bias"].astype(np.float32)))
        features = weight.shape[1]
    if not convs or not dense or features != 10:
        raise WeightsFormatError(f"{source}: expected convolutions then dense layers ending in 10")
    return Network(tuple(convs), tuple(dense))


def golden_samples() -> tuple[np.ndarray, np.ndarray]:
    """Official test images (k, 28, 28) uint8 and their labels (k,) for the readiness self-test."""
    with np.load(GOLDEN_PATH, allow_pickle=False) as archive:
        return archive["images"], archive["labels"]

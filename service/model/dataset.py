"""Read the official Fashion-MNIST idx files (Debian `dataset-fashion-mnist`), NumPy only."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Literal

import numpy as np

DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_DIR_ENV = "FASHION_MNIST_DIR"

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class DatasetMissingError(FileNotFoundError):
    """The idx files are not where we looked; the message says how to install them."""


class DatasetFormatError(ValueError):
    """A file exists but is not a valid idx file of the expected kind."""


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The argument, else $FASHION_MNIST_DIR, else the Debian package's directory."""
    if data_dir is not None:
        return Path(data_dir)
    from_env = os.environ.get(DATA_DIR_ENV)
    return Path(from_env) if from_env else DEFAULT_DATA_DIR


def load_split(
    split: Literal["train", "test"], data_dir: Path | str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) and labels uint8 (N,) of the official train or test split."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    directory = resolve_data_dir(data_dir)
    images_name, labels_name = _FILES[split]
    images_path, labels_path = directory / images_name, directory / labels_name
    missing = [path.name for path in (images_path, labels_path) if not path.is_file()]
    if missing:
        raise DatasetMissingError(
            f"Fashion-MNIST {split} files not found in {directory} (missing: "
            f"{', '.join(missing)}). Install them with `apt-get install dataset-fashion-mnist` "
            f"or point {DATA_DIR_ENV} at a directory holding the four idx .gz files."
        )
    images = _read_idx(images_path, _IMAGES_MAGIC)
    labels = _read_idx(labels_path, _LABELS_MAGIC)
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{images_path}: images {images.shape} do not match labels {labels.shape} "
            f"from {labels_path}"
        )
    return images, labels


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Decode one gzip-compressed idx file (big-endian header, then uint8 data)."""
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise DatasetFormatError(f"{path}: not a readable gzip file ({error})") from error
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != expected_magic:
        raise DatasetFormatError(f"{path}: wrong idx magic number (expected {expected_magic:#x})")
    ndim = expected_magic & 0xFF
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_end)
    if data.size != int(np.prod(shape)):
        raise DatasetFormatError(f"{path}: header declares {shape} but holds {data.size} bytes")
    return data.reshape(shape)

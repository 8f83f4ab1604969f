"""Reading the official Fashion-MNIST idx files, and what happens when they are missing."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from service.model.dataset import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    DatasetFormatError,
    DatasetMissingError,
    load_split,
)


def write_idx(directory: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write idx files the way the official ones are laid out (big-endian header, gzip)."""
    prefix = "train" if split == "train" else "t10k"
    header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in images.shape)
    (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + images.tobytes())
    )
    header = (0x801).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(header + labels.tobytes())
    )


@pytest.fixture
def tiny_split(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    labels = np.array([9, 0, 4], dtype=np.uint8)
    write_idx(tmp_path, "test", images, labels)
    return tmp_path, images, labels


def test_reads_images_and_labels_from_a_directory_argument(tiny_split):
    directory, images, labels = tiny_split
    read_images, read_labels = load_split("test", directory)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_the_directory_can_come_from_the_environment(tiny_split, monkeypatch):
    directory, images, _ = tiny_split
    monkeypatch.setenv(DATA_DIR_ENV, str(directory))
    np.testing.assert_array_equal(load_split("test")[0], images)


def test_missing_files_name_the_directory_the_debian_package_and_the_variable(tmp_path):
    with pytest.raises(DatasetMissingError) as raised:
        load_split("train", tmp_path)
    message = str(raised.value)
    assert str(tmp_path) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert DATA_DIR_ENV in message


def test_a_corrupt_file_is_reported_with_its_path(tiny_split):
    directory, _, _ = tiny_split
    labels_file = directory / "t10k-labels-idx1-ubyte.gz"
    labels_file.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetFormatError, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_split("test", directory)


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_split("validation")  # type: ignore[arg-type]


def test_the_official_test_split_has_ten_thousand_images_a_thousand_per_class():
    try:
        images, labels = load_split("test", DEFAULT_DATA_DIR)
    except DatasetMissingError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10

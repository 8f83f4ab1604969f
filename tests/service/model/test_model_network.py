"""The embedded classifier: NumPy inference on the committed weights and golden samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.labels import CLASS_NAMES
from service.model import (
    DEFAULT_WEIGHTS_PATH,
    MODEL_NAME,
    WeightsFormatError,
    golden_samples,
    load_classifier,
    network_from_arrays,
)
from service.model.network import CHUNK_IMAGES

MAX_WEIGHTS_BYTES = 2_000_000


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def golden_images() -> tuple[np.ndarray, np.ndarray]:
    images, labels = golden_samples()
    return images.astype(np.float32) / 255.0, labels


def test_class_names_are_the_ten_fashion_mnist_classes_in_label_order():
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"
    assert len(CLASS_NAMES) == 10


def test_classifier_has_a_name_and_a_version_derived_from_the_weights(classifier):
    assert classifier.name == MODEL_NAME == "fashion-mnist-cnn"
    assert len(classifier.version) == 12
    int(classifier.version, 16)


def test_committed_weights_file_is_small():
    assert DEFAULT_WEIGHTS_PATH.stat().st_size <= MAX_WEIGHTS_BYTES


def test_golden_samples_are_one_official_test_image_per_class():
    images, labels = golden_samples()
    assert images.dtype == np.uint8 and images.shape == (10, 28, 28)
    assert sorted(labels.tolist()) == list(range(10))


def test_golden_samples_are_classified_correctly_and_confidently(classifier, golden_images):
    images, labels = golden_images
    probabilities = classifier.predict_proba(images)
    assert probabilities.argmax(axis=1).tolist() == labels.tolist()
    assert probabilities.max(axis=1).min() >= 0.9


def test_probabilities_are_float32_and_each_row_sums_to_one(classifier, golden_images):
    rng = np.random.default_rng(7)
    images = np.concatenate([golden_images[0], rng.random((5, 28, 28), dtype=np.float32)])
    probabilities = classifier.predict_proba(images)
    assert probabilities.dtype == np.float32 and probabilities.shape == (15, 10)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_batch_gives_the_same_answers_as_one_image_at_a_time(classifier, golden_images):
    # More images than one chunk, so the chunked path and the single-image path both run.
    images = np.concatenate([golden_images[0]] * 4)[: CHUNK_IMAGES + 7]
    batch = classifier.predict_proba(images)
    one_by_one = np.concatenate([classifier.predict_proba(image[None]) for image in images])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-6)


def test_an_empty_batch_gives_no_rows(classifier):
    assert classifier.predict_proba(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 27), (2, 1, 28, 28)])
def test_images_of_the_wrong_shape_are_refused(classifier, shape):
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        classifier.predict_proba(np.zeros(shape, np.float32))


def test_the_weights_file_records_how_the_model_was_trained(classifier):
    assert classifier.metadata["architecture"]["conv_layers"]
    assert classifier.metadata["training"]["epochs"] >= 1
    json.dumps(classifier.metadata)


def test_weights_whose_shapes_do_not_chain_are_refused():
    with np.load(DEFAULT_WEIGHTS_PATH) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["conv1.weight"] = arrays["conv1.weight"][:-9]
    with pytest.raises(WeightsFormatError, match=r"conv1\.weight"):
        network_from_arrays(arrays)

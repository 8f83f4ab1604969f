"""Vertex AI instance and prediction formats: encoding, and reading answers defensively."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from service.backends.vertex_format import (
    MalformedPrediction,
    automl_prediction,
    encode_instances,
    probabilities_from_predictions,
)
from service.labels import CLASS_NAMES


def test_automl_instances_are_the_28x28_image_as_an_8_bit_png(golden):
    images = golden[0][:2].astype(np.float32) / 255.0
    instances = encode_instances(images, "automl-image")
    assert [instance["mimeType"] for instance in instances] == ["image/png", "image/png"]
    decoded = Image.open(io.BytesIO(base64.b64decode(instances[0]["content"])))
    assert decoded.format == "PNG" and decoded.mode == "L" and decoded.size == (28, 28)
    assert np.array_equal(np.asarray(decoded), golden[0][0])  # lossless for dataset pixels


def test_vector_instances_are_784_floats_row_major():
    image = np.arange(784, dtype=np.float32).reshape(1, 28, 28) / 784.0
    (vector,) = encode_instances(image, "vector")
    assert len(vector) == 784 and vector[29] == pytest.approx(29 / 784.0)


def test_a_full_automl_answer_maps_back_to_class_order():
    row = np.linspace(0.0, 1.0, 10, dtype=np.float32)
    row /= row.sum()
    answer = automl_prediction(row)
    assert answer["ids"][0] == "9" and answer["displayNames"][0] == "Ankle boot"
    assert np.allclose(probabilities_from_predictions([answer], 1)[0], row)


def test_classes_left_out_by_max_predictions_share_the_rest_without_reordering():
    answer = {"displayNames": ["Bag", "Coat"], "confidences": [0.6, 0.3], "ids": ["8", "4"]}
    (row,) = probabilities_from_predictions([answer], 1)
    assert row.sum() == pytest.approx(1.0)
    assert row[8] == pytest.approx(0.6) and row[4] == pytest.approx(0.3)
    assert np.allclose(np.delete(row, [8, 4]), 0.1 / 8)
    assert list(np.argsort(-row)[:2]) == [8, 4]


def test_labels_match_by_name_case_insensitively_or_by_class_id():
    answer = {"displayNames": ["trouser", "7"], "confidences": [0.75, 0.25]}
    (row,) = probabilities_from_predictions([answer], 1)
    assert row[1] == pytest.approx(0.75) and row[7] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("predictions", "fragment"),
    [
        ([{"displayNames": ["Hat"], "confidences": [1.0]}], "not a Fashion-MNIST class"),
        ([{"displayNames": ["Bag"], "confidences": [0.5, 0.5]}], "1 names, 2"),
        ([{"displayNames": ["Bag"], "confidences": ["high"]}], "not a number"),
        ([{"displayNames": ["Bag"], "confidences": [-0.1]}], "not a probability"),
        ([{"unexpected": "shape"}], "lacks displayNames"),
        ([[0.1] * 9], "9 scores"),
        ([[0.1] * 10, [0.1] * 10], "2 predictions for 1"),
        (["Bag"], "is a str"),
    ],
)
def test_answers_that_do_not_fit_are_malformed(predictions, fragment):
    with pytest.raises(MalformedPrediction, match=fragment):
        probabilities_from_predictions(predictions, 1)


def test_vector_answers_are_normalised():
    (row,) = probabilities_from_predictions([[2.0] + [0.0] * 9], 1)
    assert row[0] == 1.0 and row.sum() == 1.0


def test_threshold_and_limit_cut_the_automl_answer():
    row = np.array([0.5, 0.3, 0.1, 0.05, 0.05, 0, 0, 0, 0, 0], dtype=np.float32)
    answer = automl_prediction(row, confidence_threshold=0.1, max_predictions=2)
    assert answer == {
        "ids": ["0", "1"],
        "displayNames": [CLASS_NAMES[0], CLASS_NAMES[1]],
        "confidences": [pytest.approx(0.5), pytest.approx(0.3)],
    }

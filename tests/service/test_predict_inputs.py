"""POST /predict accepts each input form and answers one prediction per instance, in order."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from flask.testing import FlaskClient
from service_helpers import class_ids, encode

from service.labels import CLASS_NAMES

# Lossless (or, for JPEG, high-quality) encodings of a 28x28 gray image, by Content-Type.
RAW_FORMATS = {
    "image/png": ("PNG", {}),
    "image/jpeg": ("JPEG", {"quality": 95}),
    "image/webp": ("WEBP", {"lossless": True}),
    "image/gif": ("GIF", {}),
    "image/bmp": ("BMP", {}),
    "image/tiff": ("TIFF", {}),
}


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("content_type", sorted(RAW_FORMATS))
def test_raw_image_body_in_each_format(client: FlaskClient, golden, content_type: str) -> None:
    images, labels = golden
    image_format, options = RAW_FORMATS[content_type]
    for image, label in zip(images, labels, strict=True):
        response = client.post(
            "/predict", data=encode(image, image_format, **options), content_type=content_type
        )
        assert response.status_code == 200, response.json
        assert class_ids(response.json) == [label]
        assert response.json["predictions"][0]["preprocessing"]["format"] == image_format


def test_response_schema(client: FlaskClient, golden) -> None:
    images, labels = golden
    response = client.post("/predict", data=encode(images[0], "PNG"), content_type="image/png")

    body = response.json
    assert list(body) == ["predictions", "model", "backend", "fallback"]
    assert body["model"]["name"] == "fashion-mnist-cnn" and body["model"]["version"]
    assert body["backend"] == "embedded"
    assert body["fallback"] is False
    (prediction,) = body["predictions"]
    assert prediction["class_id"] == labels[0]
    assert prediction["label"] == CLASS_NAMES[labels[0]]
    assert list(prediction["confidences"]) == list(CLASS_NAMES)
    assert sum(prediction["confidences"].values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction["confidence"] == max(prediction["confidences"].values())
    assert prediction["preprocessing"] == {
        "format": "PNG",
        "mode": "L",
        "source_size": [28, 28],
        "exif_transposed": False,
        "alpha_composited": False,
        "inverted": False,
        "background": 0,
        "cropped": False,
        "resized": False,
    }


def test_multipart_field_image(client: FlaskClient, golden) -> None:
    images, labels = golden
    response = client.post(
        "/predict",
        data={"image": (io.BytesIO(encode(images[0], "PNG")), "shirt.png", "image/png")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == [labels[0]]


def test_multipart_several_images_answer_in_order(client: FlaskClient, golden) -> None:
    images, labels = golden
    files = [(io.BytesIO(encode(image, "PNG")), f"{i}.png") for i, image in enumerate(images)]
    response = client.post(
        "/predict", data={"image": files[::-1]}, content_type="multipart/form-data"
    )

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == list(labels[::-1])


def test_json_base64_content_batch_in_order(client: FlaskClient, golden) -> None:
    images, labels = golden
    order = np.argsort(-labels)  # not the stored order
    instances = [{"content": as_base64(encode(images[i], "PNG"))} for i in order]
    response = client.post("/predict", json={"instances": instances})

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == list(labels[order])


def test_json_vertex_automl_instance_with_mime_type(client: FlaskClient, golden) -> None:
    images, labels = golden
    instance = {"content": as_base64(encode(images[1], "JPEG", quality=95)), "mimeType": "jpeg"}
    response = client.post("/predict", json={"instances": [instance], "parameters": {}})

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == [labels[1]]


def test_json_pixels_integers_and_floats(client: FlaskClient, golden) -> None:
    images, labels = golden
    as_ints = {"pixels": images[2].tolist()}
    as_floats = {"pixels": (images[3].astype(float) + 0.25).clip(0, 255).tolist()}
    response = client.post("/predict", json={"instances": [as_ints, as_floats]})

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == [labels[2], labels[3]]
    assert response.json["predictions"][0]["preprocessing"]["source"] == "pixels"


def test_png_and_pixels_of_a_dataset_image_give_identical_confidences(
    client: FlaskClient, golden
) -> None:
    """A 28x28 image in Fashion-MNIST form reaches the model unchanged, whatever the input form."""
    images, _ = golden
    from_png = client.post("/predict", data=encode(images[4], "PNG"), content_type="image/png")
    from_pixels = client.post("/predict", json={"instances": [{"pixels": images[4].tolist()}]})

    png_prediction = from_png.json["predictions"][0]
    pixels_prediction = from_pixels.json["predictions"][0]
    assert png_prediction["confidences"] == pixels_prediction["confidences"]


def test_mixed_batch_of_content_and_pixels(client: FlaskClient, golden) -> None:
    images, labels = golden
    instances = [
        {"pixels": images[0].tolist()},
        {"content": as_base64(encode(images[1], "WEBP", lossless=True))},
        {"pixels": images[2].tolist()},
    ]
    response = client.post("/predict", json={"instances": instances})

    assert class_ids(response.json) == list(labels[:3])


def test_batch_of_exactly_max_batch(client: FlaskClient, golden) -> None:
    images, labels = golden
    indices = np.arange(64) % len(labels)
    instances = [{"pixels": images[i].tolist()} for i in indices]
    response = client.post("/predict", json={"instances": instances})

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == list(labels[indices])


def test_content_type_parameters_are_ignored(client: FlaskClient, golden) -> None:
    images, labels = golden
    response = client.post(
        "/predict",
        data=encode(images[0], "PNG"),
        headers={"Content-Type": "image/PNG; charset=binary"},
    )

    assert response.status_code == 200, response.json
    assert class_ids(response.json) == [labels[0]]

"""The running container serves the API: health, readiness, predictions, JSON errors."""

from __future__ import annotations

import requests
from container_engine import RunningService
from container_samples import golden_pngs, official_test_pngs

# The committed model scores about 0.9 on the full test set; a sample of 64 images stays well
# above this unless the image serves the wrong model or preprocesses uploads wrongly.
MIN_SAMPLE_ACCURACY = 0.8


def test_health_answers_200_with_json(service: RunningService) -> None:
    answer = requests.get(f"{service.base_url}/", timeout=5)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert isinstance(answer.json(), dict)


def test_ready_once_the_golden_self_test_has_passed(service: RunningService) -> None:
    answer = requests.get(f"{service.base_url}/ready", timeout=5)

    assert answer.status_code == 200
    body = answer.json()
    assert body["backend"] == "embedded"
    assert body["self_test"]["passed"] is True


def test_each_golden_png_gets_its_label(service: RunningService) -> None:
    for png, label in golden_pngs():
        answer = requests.post(
            f"{service.base_url}/predict",
            data=png,
            headers={"Content-Type": "image/png"},
            timeout=10,
        )

        assert answer.status_code == 200, answer.text
        (prediction,) = answer.json()["predictions"]
        assert prediction["class_id"] == label
        assert abs(sum(prediction["confidences"].values()) - 1) < 1e-3


def test_a_batch_of_test_set_images_is_classified_in_order(service: RunningService) -> None:
    samples = official_test_pngs(64)
    files = [("image", (f"{i}.png", png, "image/png")) for i, (png, _) in enumerate(samples)]

    answer = requests.post(f"{service.base_url}/predict", files=files, timeout=30)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    predicted = [p["class_id"] for p in body["predictions"]]
    assert len(predicted) == len(samples)
    correct = sum(p == label for p, (_, label) in zip(predicted, samples, strict=True))
    assert correct / len(samples) >= MIN_SAMPLE_ACCURACY
    assert body["model"]["name"] == "fashion-mnist-cnn"
    assert body["fallback"] is False


def test_bytes_that_are_not_an_image_get_a_4xx_json_error(service: RunningService) -> None:
    answer = requests.post(
        f"{service.base_url}/predict",
        data=b"this is not a PNG",
        headers={"Content-Type": "image/png"},
        timeout=10,
    )

    assert 400 <= answer.status_code < 500
    error = answer.json()["error"]
    assert error["code"] and error["message"]


def test_an_unsupported_content_type_gets_415(service: RunningService) -> None:
    answer = requests.post(
        f"{service.base_url}/predict",
        data=b"hello",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"

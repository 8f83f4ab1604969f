"""Accuracy through the real HTTP path (Gunicorn on 127.0.0.1) on the official test set.

Needs the data set (apt-get install dataset-fashion-mnist); skipped without it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from service_helpers import REPO_ROOT, class_ids, encode, product_photo

from tests.gunicorn_process import GunicornProcess

pytestmark = pytest.mark.dataset

TARGET_ACCURACY = 0.93
CARD_PATH = REPO_ROOT / "service" / "model" / "card.json"
CLIENT_THREADS = 4
_sessions = threading.local()


def post_all(server: GunicornProcess, bodies: Sequence[bytes], content_type: str) -> list[dict]:
    """POST each body to /predict (CLIENT_THREADS at a time, keep-alive), answers in order."""

    def post(body: bytes) -> dict:
        session = getattr(_sessions, "session", None) or requests.Session()
        _sessions.session = session
        response = session.post(
            f"{server.base_url}/predict",
            data=body,
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:300]
        return response.json()

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(pool.map(post, bodies))


def accuracy(predicted: Sequence[int], labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == labels))


def card_accuracy(served_version: str) -> float | None:
    """The model card's test accuracy, if the card describes the weights being served."""
    if not CARD_PATH.exists():
        return None
    card = json.loads(CARD_PATH.read_text(encoding="utf-8"))
    if card.get("version") != served_version:
        return None
    return float(card["metrics"]["accuracy"])


@pytest.fixture(scope="module")
def one_by_one(gunicorn_server: GunicornProcess, test_split) -> list[dict]:
    """Every official test image posted alone as a PNG file."""
    images, _ = test_split
    return post_all(gunicorn_server, [encode(image, "PNG") for image in images], "image/png")


def test_official_test_images_posted_one_by_one_as_png(one_by_one, test_split) -> None:
    _, labels = test_split
    predicted = [class_ids(body)[0] for body in one_by_one]
    measured = accuracy(predicted, labels)

    served_version = one_by_one[0]["model"]["version"]
    expected = card_accuracy(served_version)
    if expected is not None:  # the HTTP path must not lose anything the model has
        assert measured == pytest.approx(expected, abs=5e-4)
    assert measured >= TARGET_ACCURACY, f"accuracy {measured:.4f} over HTTP"


def test_json_batches_of_base64_images_answer_in_order(
    gunicorn_server: GunicornProcess, test_split, one_by_one
) -> None:
    images, labels = test_split
    contents = [base64.b64encode(encode(image, "PNG")).decode("ascii") for image in images]
    batches = [
        json.dumps({"instances": [{"content": c} for c in contents[start : start + 64]]}).encode()
        for start in range(0, len(contents), 64)
    ]
    answers = post_all(gunicorn_server, batches, "application/json")
    predicted = [class_id for body in answers for class_id in class_ids(body)]

    assert len(predicted) == len(labels)
    one_by_one_predicted = [class_ids(body)[0] for body in one_by_one]
    disagreements = np.count_nonzero(np.asarray(predicted) != np.asarray(one_by_one_predicted))
    assert disagreements <= 5  # float summation order differs with the batch size, rarely argmax
    assert accuracy(predicted, labels) >= TARGET_ACCURACY


def test_product_photo_lookalikes_classify_nearly_as_well(
    gunicorn_server: GunicornProcess, test_split
) -> None:
    """Inverted to dark-on-white, upscaled 4-8x, off centre on a larger white canvas, RGB JPEG:
    within 3 points of the originals' accuracy on a fixed 1,000-image sample."""
    images, labels = test_split
    rng = np.random.default_rng(2024)
    sample = rng.choice(len(labels), size=1000, replace=False)
    photos = [make_lookalike(images[i], rng) for i in sample]

    originals = post_all(gunicorn_server, [encode(images[i], "PNG") for i in sample], "image/png")
    lookalikes = post_all(gunicorn_server, photos, "image/jpeg")

    original_accuracy = accuracy([class_ids(b)[0] for b in originals], labels[sample])
    photo_accuracy = accuracy([class_ids(b)[0] for b in lookalikes], labels[sample])
    assert all(b["predictions"][0]["preprocessing"]["inverted"] for b in lookalikes)
    assert all(b["predictions"][0]["preprocessing"]["cropped"] for b in lookalikes)
    assert photo_accuracy >= original_accuracy - 0.03, (original_accuracy, photo_accuracy)


def make_lookalike(image: np.ndarray, rng: np.random.Generator) -> bytes:
    scale = int(rng.integers(4, 9))
    side = 28 * scale
    width, height = side + int(rng.integers(40, 400)), side + int(rng.integers(40, 400))
    offset = (int(rng.integers(0, width - side)), int(rng.integers(0, height - side)))
    return product_photo(image, scale, (width, height), offset)

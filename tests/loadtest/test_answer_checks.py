"""How the scenarios judge an answer, and the committed samples they send."""

import json

import numpy as np
import pytest

from loadtest.checks import BAD_REQUESTS, check_prediction, check_rejection, multipart_body
from loadtest.samples import load_samples

SAMPLES = load_samples()


class Answer:
    """The part of Locust's ResponseContextManager the checks use."""

    def __init__(self, status_code: int, body: object) -> None:
        self.status_code = status_code
        self._text = body if isinstance(body, str) else json.dumps(body)
        self.verdict: str | None = None

    def json(self):
        return json.loads(self._text)

    def success(self) -> None:
        self.verdict = "success"

    def failure(self, message: str) -> None:
        self.verdict = f"failure: {message}"


def predictions(*labels: tuple[str, int]) -> dict:
    return {"predictions": [{"label": label, "class_id": class_id} for label, class_id in labels]}


def test_the_known_labels_in_order_succeed():
    a, b = SAMPLES[0], SAMPLES[1]
    answer = Answer(200, predictions((a.label, a.class_id), (b.label, b.class_id)))
    check_prediction(answer, [a, b])
    assert answer.verdict == "success"


def test_a_wrong_label_on_a_known_image_is_a_failure():
    sample = next(s for s in SAMPLES if s.label == "Trouser")
    answer = Answer(200, predictions(("Dress", 3)))
    check_prediction(answer, [sample])
    assert answer.verdict == f"failure: wrong label: {sample.file}: expected Trouser, got Dress"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, predictions(), "0 predictions for 1 images"),
        (200, "<html>", "malformed prediction body"),
        (200, {"predictions": [{"label": "Bag"}]}, "malformed prediction body"),
        (503, {"error": {"code": "UNAVAILABLE", "message": "x"}}, "HTTP 503: UNAVAILABLE"),
        (400, "", "HTTP 400: no error body"),
    ],
)
def test_anything_else_is_a_failure(status, body, reason):
    answer = Answer(status, body)
    check_prediction(answer, [SAMPLES[0]])
    assert answer.verdict.startswith(f"failure: {reason}")


def test_an_expected_rejection_with_the_error_body_succeeds():
    answer = Answer(415, {"error": {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "no"}})
    check_rejection(answer, frozenset({415}))
    assert answer.verdict == "success"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, predictions(("Bag", 8)), "bad request answered 200, expected [415]"),
        (500, {"error": {"code": "INTERNAL", "message": "x"}}, "bad request answered 500"),
        (415, "Unsupported", "415 without the API's error body"),
    ],
)
def test_a_bad_request_accepted_crashing_or_without_error_body_fails(status, body, reason):
    answer = Answer(status, body)
    check_rejection(answer, frozenset({415}))
    assert answer.verdict.startswith(f"failure: {reason}")


def test_bad_requests_expect_only_client_errors():
    for bad in BAD_REQUESTS:
        assert bad.expected and all(400 <= status < 500 for status in bad.expected), bad.name
        assert not bad.expected & {401, 403, 429}, bad.name


def test_multipart_body_has_one_image_field():
    body, content_type = multipart_body("image", "a.png", b"\x89PNG...")
    boundary = content_type.split("boundary=")[1]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="image"; filename="a.png"' in body
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())


def test_samples_are_official_test_images_of_every_class():
    assert 100 <= len(SAMPLES) <= 200
    assert {s.class_id for s in SAMPLES} == set(range(10))
    assert all(s.png.startswith(b"\x89PNG\r\n\x1a\n") for s in SAMPLES)
    assert sum(len(s.png) for s in SAMPLES) < 500_000
    assert len(SAMPLES[0].pixels) == 28 and len(SAMPLES[0].pixels[0]) == 28


def test_the_committed_model_labels_every_sample_right():
    """If retrained weights mislabel a sample, regenerate them: make_samples picks the images."""
    from service.labels import CLASS_NAMES
    from service.model import load_classifier

    images = np.array([s.pixels for s in SAMPLES], dtype=np.float32) / 255.0
    predicted = load_classifier().predict_proba(images).argmax(axis=1)
    wrong = [s.file for s, p in zip(SAMPLES, predicted, strict=True) if p != s.class_id]
    assert wrong == [], "run `python -m loadtest.samples.make_samples` after retraining"
    assert all(CLASS_NAMES[s.class_id] == s.label for s in SAMPLES)

"""The seed's two tiers as two processes on loopback: Gunicorn serving the API with
BACKEND=vertex, in front of the fake Vertex AI server over the embedded model. Every fault the
fake injects must come back as its documented status within the request deadline."""

from __future__ import annotations

import time

import numpy as np
import openapi_contract
import pytest
import requests

from service.labels import CLASS_NAMES
from service.model import load_classifier
from service.preprocess import to_model_input
from tests.service.backends.vertex_tiers import (
    BREAKER_FAILURES,
    BREAKER_RESET_SECONDS,
    DEADLINE_SECONDS,
    RETRIES,
    log_records,
)

DOCUMENT = openapi_contract.load()
# Generous: the machine is shared and Gunicorn adds its own queueing.
SLACK_SECONDS = 1.0
MAX_ATTEMPTS = 1 + RETRIES


def post_pixels(tier, images: np.ndarray) -> tuple[requests.Response, float]:
    """POST /predict with JSON pixel instances; the response and its latency in seconds."""
    body = {"instances": [{"pixels": image.tolist()} for image in images]}
    started = time.monotonic()
    response = requests.post(f"{tier.base_url}/predict", json=body, timeout=30)
    latency = time.monotonic() - started
    openapi_contract.assert_matches(
        DOCUMENT, "/predict", "post", response.status_code, response.json(), response.headers
    )
    return response, latency


def embedded_labels(images: np.ndarray) -> list[int]:
    """What the embedded model says about the same images, in this process."""
    inputs = np.stack([to_model_input(image)[0] for image in images]).astype(np.float32)
    return load_classifier().predict_proba(inputs).argmax(axis=1).tolist()


@pytest.fixture
def fake(fake_vertex_process, api_tiers):
    """The fake with no fault; afterwards a good request through each tier, which also closes
    a breaker a test left open (so tests do not depend on each other's order)."""
    fake_vertex_process.reset()
    yield fake_vertex_process
    fake_vertex_process.reset()
    for tier in api_tiers.values():
        give_up = time.monotonic() + 5 * BREAKER_RESET_SECONDS
        while post_pixels(tier, np.zeros((1, 28, 28)))[0].status_code != 200:
            assert time.monotonic() < give_up, "the breaker did not close again"
            time.sleep(0.2)


@pytest.mark.parametrize("tier_name", ["grpc", "fallback"])
def test_test_set_images_come_back_with_their_labels_through_both_tiers(
    api_tiers, fake, golden, tier_name
):
    tier = api_tiers[tier_name]
    images, labels = golden
    try:
        from service.model.dataset import DatasetMissingError, load_split

        test_images, test_labels = load_split("test")
        images = np.concatenate([images, test_images[:54]])
        labels = np.concatenate([labels, test_labels[:54]])
    except DatasetMissingError:
        print("Fashion-MNIST not installed: golden samples only")
    predicted, started = [], time.monotonic()
    for batch in np.array_split(np.arange(len(images)), 4):  # small batches: well within 1 s
        response, _ = post_pixels(tier, images[batch])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["backend"] == "vertex" and body["fallback"] is False
        assert body["model"] == {"name": "fashion-mnist-automl", "version": "7341985214160478208"}
        predicted += [prediction["class_id"] for prediction in body["predictions"]]
    assert predicted[:10] == labels[:10].tolist()  # the golden samples: all right
    assert predicted == embedded_labels(images)  # the rest: what the model itself says
    accuracy = float(np.mean(np.array(predicted) == labels))
    elapsed = time.monotonic() - started
    print(f"{tier_name}: {len(images)} images, accuracy {accuracy:.3f}, {elapsed * 1000:.0f} ms")
    assert 4 <= fake.attempts() <= 4 * MAX_ATTEMPTS  # retries only if the machine stalls


FAULTS = [
    # kind, count, latency_ms, status, code, attempts (exact, or the bound)
    ("unavailable", None, 0, 503, "UPSTREAM_UNAVAILABLE", MAX_ATTEMPTS),
    ("overloaded", None, 0, 503, "UPSTREAM_UNAVAILABLE", MAX_ATTEMPTS),
    ("internal", None, 0, 502, "UPSTREAM_ERROR", 1),
    ("malformed", None, 0, 502, "UPSTREAM_ERROR", 1),
    ("garbage", None, 0, 502, "UPSTREAM_ERROR", 1),
    ("hang", None, 0, 504, "UPSTREAM_TIMEOUT", MAX_ATTEMPTS),
    ("none", None, 1500, 504, "UPSTREAM_TIMEOUT", MAX_ATTEMPTS),  # slower than the call timeout
    ("none", None, 150, 200, None, 1),  # slow, but within the call timeout
    ("unavailable", 1, 0, 200, None, 2),  # one blip: the retry answers
]


@pytest.mark.parametrize(("kind", "count", "latency_ms", "status", "code", "attempts"), FAULTS)
def test_each_fault_gives_its_status_within_the_deadline_and_the_retry_bound(
    api_tiers, fake, golden, kind, count, latency_ms, status, code, attempts
):
    fake.fault(kind, count=count, latency_ms=latency_ms)
    response, latency = post_pixels(api_tiers["grpc"], golden[0][:1])
    made = fake.attempts()
    print(
        f"{kind} x{count or 'all'} +{latency_ms} ms: {response.status_code} "
        f"in {latency * 1000:.0f} ms, {made} attempt(s)"
    )
    assert response.status_code == status, response.text
    assert latency < DEADLINE_SECONDS + SLACK_SECONDS
    if code is not None:
        assert response.json()["error"]["code"] == code
    if status == 503:
        assert int(response.headers["Retry-After"]) >= 1
    if kind in ("hang",) or latency_ms > 500:
        assert 1 <= made <= attempts  # how many fit in the deadline depends on the jitter
    else:
        assert made == attempts


def test_the_breaker_opens_fails_fast_and_closes_again(api_tiers, fake, golden):
    tier = api_tiers["grpc"]
    image = golden[0][:1]
    fake.fault("unavailable")
    statuses = []
    while fake.attempts() < BREAKER_FAILURES:
        statuses.append(post_pixels(tier, image)[0].status_code)
    assert set(statuses) == {503}
    attempts_when_open = fake.attempts()
    response, latency = post_pixels(tier, image)
    print(f"open breaker: {response.status_code} in {latency * 1000:.0f} ms")
    assert response.json()["error"]["code"] == "CIRCUIT_OPEN"
    assert int(response.headers["Retry-After"]) == pytest.approx(BREAKER_RESET_SECONDS, abs=1)
    assert fake.attempts() == attempts_when_open  # failing fast: nothing went out
    assert latency < 0.5

    fake.reset()
    time.sleep(BREAKER_RESET_SECONDS + 0.1)
    response, _ = post_pixels(tier, image)
    assert response.status_code == 200 and fake.attempts() == 1  # the trial call, which closes
    messages = [record.get("message", "") for record in log_records(tier)]
    assert any(message.startswith("circuit breaker vertex opened") for message in messages)
    assert any(message == "circuit breaker vertex closed" for message in messages)


def test_fallback_answers_with_the_embedded_model_and_says_so(api_tiers, fake, golden):
    tier = api_tiers["fallback"]
    images, labels = golden
    fake.fault("unavailable")
    response, latency = post_pixels(tier, images)
    body = response.json()
    print(f"fallback: {response.status_code} in {latency * 1000:.0f} ms")
    assert response.status_code == 200 and latency < DEADLINE_SECONDS + SLACK_SECONDS
    assert body["backend"] == "vertex" and body["fallback"] is True
    assert body["model"]["name"] == "fashion-mnist-cnn"
    assert [p["class_id"] for p in body["predictions"]] == labels.tolist()
    request_lines = [
        record
        for record in log_records(tier)
        if record.get("message") == "POST /predict 200" and record.get("fallback") is True
    ]
    assert request_lines, "the request log line must carry fallback: true"
    assert any(
        record.get("fallback") is True and record.get("upstream_error", {}).get("code")
        for record in log_records(tier)
    )


def test_an_open_inference_request_through_both_tiers(api_tiers, fake, golden):
    images, labels = golden
    request = {
        "id": "two-tier",
        "inputs": [
            {"name": "image", "shape": [10, 28, 28], "datatype": "UINT8", "data": images.tolist()}
        ],
        "outputs": [{"name": "label"}],
    }
    url = f"{api_tiers['grpc'].base_url}/v2/models/fashion-mnist/infer"
    body = requests.post(url, json=request, timeout=30).json()
    assert body["id"] == "two-tier"
    assert body["parameters"]["backend"] == "vertex"
    assert body["outputs"][0]["data"] == [CLASS_NAMES[label] for label in labels]


def test_upstream_failures_on_the_open_inference_route_use_its_error_shape(api_tiers, fake, golden):
    fake.fault("unavailable")
    request = {
        "inputs": [
            {
                "name": "image",
                "shape": [1, 28, 28],
                "datatype": "UINT8",
                "data": golden[0][0].reshape(-1).tolist(),
            }
        ]
    }
    url = f"{api_tiers['grpc'].base_url}/v2/models/fashion-mnist/infer"
    response = requests.post(url, json=request, timeout=30)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    openapi_contract.assert_matches(
        DOCUMENT, "/v2/models/{model_name}/infer", "post", 503, response.json()
    )

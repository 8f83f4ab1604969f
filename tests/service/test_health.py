"""GET / (liveness) and GET /ready (readiness: model loaded and golden self-test passed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from flask.testing import FlaskClient
from service_helpers import encode

from service import Settings, create_app


def test_health_answers_200_json(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_after_the_golden_self_test(client: FlaskClient, golden) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ready"
    assert body["backend"] == "embedded"
    assert body["model"]["name"] == "fashion-mnist-cnn"
    assert body["model"]["version"]
    assert body["self_test"] == {"samples": len(golden[1]), "passed": True}


def test_not_ready_without_a_model_but_still_alive(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights.npz"
    app = create_app(Settings(model_path=missing), log_stream=io.StringIO())
    client = app.test_client()

    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json["error"]["code"] == "NOT_READY"
    assert str(missing) in ready.json["error"]["message"]

    assert client.get("/").status_code == 200

    predict = client.post(
        "/predict", data=encode(np.zeros((28, 28), np.uint8), "PNG"), content_type="image/png"
    )
    assert predict.status_code == 503
    assert predict.json["error"]["code"] == "NOT_READY"


def test_not_ready_when_the_weights_are_not_the_model(tmp_path: Path) -> None:
    garbage = tmp_path / "weights.npz"
    garbage.write_bytes(b"not an npz archive")
    app = create_app(Settings(model_path=garbage), log_stream=io.StringIO())

    response = app.test_client().get("/ready")

    assert response.status_code == 503
    assert "cannot load the model" in response.json["error"]["message"]


def test_unknown_route_and_wrong_method_are_json_errors(client: FlaskClient) -> None:
    missing = client.get("/healthz")
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "NOT_FOUND"

    wrong_method = client.get("/predict")
    assert wrong_method.status_code == 405
    assert wrong_method.json["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in wrong_method.headers["Allow"]

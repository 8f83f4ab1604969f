"""The Vertex AI custom-container contract: AIP_* routes, AutoML-shaped predictions."""

from __future__ import annotations

import base64
import io
import runpy
from pathlib import Path

import numpy as np
import openapi_contract
import pytest
from service_helpers import encode

from service import Settings, create_app

DOCUMENT = openapi_contract.load()
PREDICT = "/vertex/predict"
GUNICORN_CONF = Path(__file__).resolve().parents[3] / "service" / "gunicorn.conf.py"


def predict(client, body):
    response = client.post(PREDICT, json=body)
    openapi_contract.assert_matches(
        DOCUMENT, PREDICT, "post", response.status_code, response.get_json()
    )
    return response


def automl_instance(image: np.ndarray) -> dict:
    return {"content": base64.b64encode(encode(image, "PNG")).decode(), "mimeType": "image/png"}


def test_automl_instances_get_automl_predictions_most_confident_first(client, golden):
    images, labels = golden
    response = predict(client, {"instances": [automl_instance(image) for image in images]})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    assert len(predictions) == len(images)
    for prediction, label in zip(predictions, labels, strict=True):
        assert prediction["ids"][0] == str(label)
        assert len(prediction["ids"]) == len(prediction["displayNames"]) == 10
        assert prediction["confidences"] == sorted(prediction["confidences"], reverse=True)
        assert sum(prediction["confidences"]) == pytest.approx(1.0, abs=1e-4)


def test_confidence_threshold_and_max_predictions_are_honoured(client, golden):
    images, labels = golden
    instances = [automl_instance(image) for image in images[:3]]
    top_two = predict(client, {"instances": instances, "parameters": {"maxPredictions": 2}})
    assert [len(p["ids"]) for p in top_two.get_json()["predictions"]] == [2, 2, 2]
    confident = predict(
        client, {"instances": instances, "parameters": {"confidenceThreshold": 0.5}}
    )
    for prediction, label in zip(confident.get_json()["predictions"], labels, strict=False):
        assert prediction["ids"][:1] == [str(label)]
        assert all(confidence >= 0.5 for confidence in prediction["confidences"])


def test_pixels_and_784_vector_instances_are_accepted_too(client, golden):
    images, labels = golden
    instances = [{"pixels": images[0].tolist()}, (images[1] / 255.0).reshape(-1).tolist()]
    response = predict(client, {"instances": instances})
    assert [p["ids"][0] for p in response.get_json()["predictions"]] == [
        str(labels[0]),
        str(labels[1]),
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"instances": []}, 422, "EMPTY_BATCH"),
        ({"images": []}, 400, "INVALID_REQUEST"),
        ({"instances": [[0.0] * 783]}, 422, "INVALID_VECTOR"),
        ({"instances": [[2.0] * 784]}, 422, "PIXEL_OUT_OF_RANGE"),
        ({"instances": [{"content": "not base64!"}]}, 400, "INVALID_BASE64"),
        ({"instances": [{"content": "aGk=", "mimeType": 5}]}, 400, "INVALID_REQUEST"),
        ({"instances": [[0.0] * 784], "parameters": []}, 400, "INVALID_PARAMETERS"),
        ({"instances": [[0.0] * 784], "parameters": None}, 400, "INVALID_PARAMETERS"),
        (
            {"instances": [[0.0] * 784], "parameters": {"confidenceThreshold": 1.5}},
            400,
            "INVALID_PARAMETERS",
        ),
        (
            {"instances": [[0.0] * 784], "parameters": {"maxPredictions": 0}},
            400,
            "INVALID_PARAMETERS",
        ),
        ({"instances": [[0.0] * 784] * 65}, 413, "BATCH_TOO_LARGE"),
    ],
)
def test_bad_requests_get_this_apis_error_shape(client, body, status, code):
    response = predict(client, body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_health_route_answers_once_ready(client):
    response = client.get("/vertex/health")
    assert response.status_code == 200
    openapi_contract.assert_matches(DOCUMENT, "/vertex/health", "get", 200, response.get_json())


def test_routes_come_from_aip_health_route_and_aip_predict_route(golden):
    settings = Settings.from_env(
        {
            "AIP_HEALTH_ROUTE": "/v1/endpoints/123/deployedModels/456",
            "AIP_PREDICT_ROUTE": "/v1/endpoints/123/deployedModels/456:predict",
        }
    )
    client = create_app(settings, log_stream=io.StringIO()).test_client()
    assert client.get("/v1/endpoints/123/deployedModels/456").status_code == 200
    images, labels = golden
    response = client.post(
        "/v1/endpoints/123/deployedModels/456:predict",
        json={"instances": [automl_instance(images[0])]},
    )
    assert response.get_json()["predictions"][0]["ids"][0] == str(labels[0])
    assert client.post(PREDICT, json={"instances": []}).status_code == 404


def test_a_route_that_clashes_with_the_service_is_a_config_error():
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="AIP_PREDICT_ROUTE"):
        create_app(Settings(aip_predict_route="/predict"), log_stream=io.StringIO())


def test_gunicorn_listens_on_aip_http_port_when_vertex_sets_it(monkeypatch):
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("AIP_HTTP_PORT", "8081")
    assert runpy.run_path(str(GUNICORN_CONF))["bind"] == ["0.0.0.0:8081"]
    monkeypatch.delenv("AIP_HTTP_PORT")
    assert runpy.run_path(str(GUNICORN_CONF))["bind"] == ["0.0.0.0:8080"]

"""Answers are serialised with orjson (service/fast_json.py) and read like before."""

from __future__ import annotations

import json

from service_helpers import encode

from service.fast_json import OrjsonProvider
from service.labels import CLASS_NAMES


def test_the_app_answers_through_orjson_with_keys_in_order(app, client, golden) -> None:
    images, _ = golden
    response = client.post("/predict", data=encode(images[0], "PNG"), content_type="image/png")

    assert isinstance(app.json, OrjsonProvider)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = json.loads(response.get_data())
    assert list(body) == ["predictions", "model", "backend", "fallback"]
    assert list(body["predictions"][0]["confidences"]) == list(CLASS_NAMES)
    assert response.get_data().endswith(b"}\n")


def test_what_orjson_refuses_is_still_answered(client) -> None:
    # A lone surrogate is valid in a JSON string, and /v2 echoes the request's id: orjson
    # refuses to write it, Flask's own provider writes it escaped.
    body = (
        b'{"id": "\\ud800", "inputs": [{"name": "image", "shape": [1, 28, 28], '
        b'"datatype": "UINT8", "data": [' + b",".join([b"0"] * 784) + b"]}]}"
    )
    response = client.post(
        "/v2/models/fashion-mnist/infer", data=body, content_type="application/json"
    )

    assert response.status_code == 200
    assert json.loads(response.get_data())["id"] == "\ud800"

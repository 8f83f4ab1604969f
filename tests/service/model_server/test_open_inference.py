"""The Open Inference Protocol (KServe V2) routes, with requests written from the spec
(kserve/open-inference-protocol, specification/protocol/inference_rest.md) by hand."""

from __future__ import annotations

import json

import numpy as np
import openapi_contract
import pytest

from service.labels import CLASS_NAMES

DOCUMENT = openapi_contract.load()
INFER = "/v2/models/fashion-mnist/infer"


def checked(response, path: str, method: str = "get"):
    """The JSON body, after checking it against the OpenAPI document."""
    body = response.get_json()
    openapi_contract.assert_matches(DOCUMENT, path, method, response.status_code, body)
    return body


def test_health_and_metadata_routes_answer_as_the_spec_describes(client):
    assert checked(client.get("/v2/health/live"), "/v2/health/live") == {"live": True}
    assert checked(client.get("/v2/health/ready"), "/v2/health/ready") == {"ready": True}
    server = checked(client.get("/v2"), "/v2")
    assert server["name"] == "fashion-serve" and server["extensions"] == []
    ready = client.get("/v2/models/fashion-mnist/ready")
    assert checked(ready, "/v2/models/{model_name}/ready") == {
        "name": "fashion-mnist",
        "ready": True,
    }
    model = checked(client.get("/v2/models/fashion-mnist"), "/v2/models/{model_name}")
    assert model["name"] == "fashion-mnist" and model["platform"] == "numpy"
    assert model["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, 28, 28]}]
    assert {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]} in model["outputs"]
    assert model["labels"] == list(CLASS_NAMES)


def test_a_uint8_batch_written_from_the_spec_gets_the_right_labels_and_its_id_back(client, golden):
    images, labels = golden
    request_text = json.dumps(
        {
            "id": "42",
            "inputs": [
                {
                    "name": "image",
                    "shape": [len(images), 28, 28],
                    "datatype": "UINT8",
                    "data": images.tolist(),  # nested: the tensor's natural form
                }
            ],
        }
    )
    response = client.post(INFER, data=request_text, content_type="application/json")
    body = checked(response, "/v2/models/{model_name}/infer", "post")
    assert response.status_code == 200
    assert body["id"] == "42" and body["model_name"] == "fashion-mnist"
    outputs = {output["name"]: output for output in body["outputs"]}
    probabilities = outputs["probabilities"]
    assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [len(images), 10]
    rows = np.array(probabilities["data"]).reshape(len(images), 10)
    assert np.allclose(rows.sum(axis=1), 1.0, atol=1e-4)
    assert rows.argmax(axis=1).tolist() == labels.tolist()
    assert outputs["label"] == {
        "name": "label",
        "shape": [len(images)],
        "datatype": "BYTES",
        "data": [CLASS_NAMES[label] for label in labels],
    }


def test_fp32_flattened_data_and_a_requested_output(client, golden):
    images, labels = golden
    request = {
        "inputs": [
            {
                "name": "image",
                "shape": [2, 28, 28],
                "datatype": "FP32",
                "data": (images[:2] / 255.0).reshape(-1).tolist(),
            }
        ],
        "outputs": [{"name": "label"}],
    }
    body = checked(client.post(INFER, json=request), "/v2/models/{model_name}/infer", "post")
    assert "id" not in body
    assert body["outputs"] == [
        {
            "name": "label",
            "shape": [2],
            "datatype": "BYTES",
            "data": [CLASS_NAMES[label] for label in labels[:2]],
        }
    ]


def image_request(**changes):
    tensor = {"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}
    tensor.update(changes)
    return {"inputs": [tensor]}


@pytest.mark.parametrize(
    ("request_body", "status", "fragment"),
    [
        (image_request(name="input0"), 400, "expected 'image'"),
        (image_request(datatype="INT64"), 400, "UINT8 or FP32"),
        (image_request(datatype={}), 400, "UINT8 or FP32"),
        (image_request(shape=[784]), 400, "[N, 28, 28]"),
        (image_request(shape=[1, 28, 28.0]), 400, "[N, 28, 28]"),
        (image_request(shape=[65, 28, 28], data=[0] * 784 * 65), 413, "limit is 64"),
        (image_request(data=[0] * 783), 400, "783 values"),
        (image_request(data=[256] + [0] * 783), 400, "within 0 and 255"),
        (image_request(data=[True] + [0] * 783), 400, "not a UINT8"),
        (image_request(data=[0.5] + [0] * 783), 400, "not a UINT8"),
        (image_request(datatype="FP32", data=[2.0] + [0] * 783), 400, "within 0 and 1.0"),
        (image_request(data="AAAA"), 400, "JSON array"),
        (image_request(parameters={"binary_data_size": 784}), 400, "binary tensor data"),
        ({"inputs": []}, 400, "exactly one tensor"),
        ({**image_request(), "outputs": [{"name": "logits"}]}, 400, "unknown output"),
        ({**image_request(), "id": 42}, 400, '"id" must be a string'),
        ({**image_request(), "id": None}, 400, '"id" must be a string'),
        ({**image_request(), "outputs": None}, 400, '"outputs" must be'),
        ({**image_request(), "parameters": None}, 400, "string, number or boolean"),
        ([1, 2, 3], 400, "JSON object"),
    ],
)
def test_bad_inference_requests_get_the_spec_error_object(client, request_body, status, fragment):
    response = client.post(INFER, json=request_body)
    body = checked(response, "/v2/models/{model_name}/infer", "post")
    assert response.status_code == status
    assert set(body) == {"error"} and fragment in body["error"]


def test_unknown_models_are_404_with_the_spec_error_object(client):
    for path, method in [
        ("/v2/models/mnist", "get"),
        ("/v2/models/mnist/ready", "get"),
        ("/v2/models/mnist/infer", "post"),
    ]:
        response = client.open(path, method=method.upper(), json=image_request())
        template = path.replace("mnist", "{model_name}")
        assert response.status_code == 404
        assert "fashion-mnist" in checked(response, template, method)["error"]


def test_non_json_bodies_are_refused_in_the_spec_error_shape(client):
    response = client.post(INFER, data=b"\x89PNG", content_type="image/png")
    assert response.status_code == 415
    checked(response, "/v2/models/{model_name}/infer", "post")
    response = client.post(INFER, data=b"{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]
    response = client.post(INFER, data=b'{"inputs": [NaN]}', content_type="application/json")
    assert response.status_code == 422
    checked(response, "/v2/models/{model_name}/infer", "post")


def test_routing_errors_under_v2_use_the_spec_error_object_too(client):
    response = client.get("/v2/models/a%2Fb/ready")  # a slash in the name: no route matches
    assert response.status_code == 404
    checked(response, "/v2/models/{model_name}/ready")
    response = client.put(INFER, json=image_request())
    assert response.status_code == 405 and set(response.get_json()) == {"error"}
    assert "POST" in response.headers["Allow"]
    elsewhere = client.get("/no-such-route").get_json()
    assert elsewhere["error"]["code"] == "NOT_FOUND"  # the rest of the API keeps its shape


@pytest.mark.parametrize(
    "request_body",
    [
        {**image_request(), "parameters": {"nested": {"not": "allowed"}}},
        {"inputs": [{**image_request()["inputs"][0], "parameters": []}]},
        {**image_request(), "outputs": [{"name": "label", "parameters": {"x": [1]}}]},
    ],
)
def test_parameters_must_be_flat_objects_as_the_spec_defines_them(client, request_body):
    response = client.post(INFER, json=request_body)
    assert response.status_code == 400 and "string, number or boolean" in response.json["error"]

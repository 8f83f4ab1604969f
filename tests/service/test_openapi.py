"""The OpenAPI document: valid OpenAPI 3.1, served, and listing exactly the routes served."""

from __future__ import annotations

import io
import re

import openapi_contract
from openapi_spec_validator import validate

from service import Settings, create_app


def served_operations(app) -> set[tuple[str, str]]:
    """(path in OpenAPI form, method) for every rule of the app, without HEAD/OPTIONS."""
    operations = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operations.add((path, method.lower()))
    return operations


def documented_operations(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


def test_the_document_is_valid_openapi():
    validate(openapi_contract.load())


def test_the_served_document_lists_every_route_and_method_of_the_app(app, client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert documented_operations(document) == served_operations(app)
    openapi_contract.assert_matches(document, "/openapi.json", "get", 200, document)


def test_configured_vertex_routes_move_in_the_document_too():
    settings = Settings(
        aip_health_route="/v1/endpoints/42/deployedModels/7",
        aip_predict_route="/v1/endpoints/42/deployedModels/7:predict",
    )
    app = create_app(settings, log_stream=io.StringIO())
    document = app.test_client().get("/openapi.json").get_json()
    assert ("/v1/endpoints/42/deployedModels/7:predict", "post") in documented_operations(document)
    assert "/vertex/predict" not in document["paths"]
    assert documented_operations(document) == served_operations(app)


def test_every_operation_has_an_id_and_every_response_a_json_body_schema():
    document = openapi_contract.load()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                assert schema, f"{method} {path} {status}"
    assert len(ids) == len(set(ids))

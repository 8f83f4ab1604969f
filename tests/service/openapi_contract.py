"""Checking responses against the service's own OpenAPI document (service/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from service.openapi import DOCUMENT_PATH

DOCUMENT_URI = "urn:fashion-serve:openapi"


def load() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def assert_matches(
    document: dict[str, Any],
    path: str,
    method: str,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """`body` (parsed JSON) is what the document promises for this operation and status."""
    operation = document["paths"][path][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not documented"
    response = responses[str(status)]
    for name, header in response.get("headers", {}).items():
        if header.get("required"):
            assert name in (headers or {}), f"{method} {path} {status}: no {name} header"
    pointer = _pointer(
        "paths", path, method.lower(), "responses", str(status), "content", "application/json"
    )
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{pointer}/schema"}, registry=registry
    )
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{list(error.path)}: {error.message}" for error in errors[:5]
    )

"""`GET /openapi.json`: the OpenAPI 3.1 document of every route, kept in `openapi.json`.

The Vertex AI contract's two paths are settings (AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE): the file
documents them under their defaults and the served copy moves them to the configured paths, so
that the document always matches what this process serves (a test compares it with the
app's URL map).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from service.config import Settings

DOCUMENT_PATH = Path(__file__).resolve().parent / "openapi.json"
DEFAULT_HEALTH_ROUTE = "/vertex/health"
DEFAULT_PREDICT_ROUTE = "/vertex/predict"

blueprint = Blueprint("openapi", __name__)


def load_document(settings: Settings) -> dict[str, Any]:
    """The document for a process configured with `settings`."""
    document = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    paths = document["paths"]
    moved = {
        DEFAULT_HEALTH_ROUTE: settings.aip_health_route,
        DEFAULT_PREDICT_ROUTE: settings.aip_predict_route,
    }
    document["paths"] = {moved.get(path, path): item for path, item in paths.items()}
    return document


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["openapi"] = load_document(settings)
    app.register_blueprint(blueprint)


@blueprint.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(current_app.extensions["openapi"])

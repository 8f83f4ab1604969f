"""The log-based metrics read fields that the service really writes.

The service's request log line (StructuredLogHandler, one JSON object on stdout) becomes a
LogEntry whose jsonPayload is the line without Cloud Logging's special fields. Every
`jsonPayload.<path>` that a log metric filters on or extracts must be in that line, with a
value of the kind the metric expects: if the service renames a field, this fails here rather
than as a flat line on a dashboard.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from tests.monitoring.helpers import run_cli

service = pytest.importorskip(
    "service", reason="the service needs the serve extra (pip install .[serve])"
)

# Fields Cloud Logging's agent lifts out of a structured line into the LogEntry itself.
SPECIAL_FIELDS = {"severity", "httpRequest", "time", "timestamp"}
JSON_PAYLOAD_PATH = re.compile(r"jsonPayload\.([A-Za-z0-9_.]+)")


def one_prediction_log_line() -> dict[str, Any]:
    stream = io.StringIO()
    app = service.create_app(service.Settings(), log_stream=stream)
    stream.seek(0)
    stream.truncate()
    pixels = [[float((row * 28 + column) % 256) for column in range(28)] for row in range(28)]
    response = app.test_client().post("/predict", json={"instances": [{"pixels": pixels}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    (entry,) = [line for line in lines if line.get("httpRequest")]
    return entry


def json_payload(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in entry.items()
        if key not in SPECIAL_FIELDS and not key.startswith("logging.googleapis.com/")
    }


def lookup(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        assert isinstance(value, dict) and part in value, f"jsonPayload.{path} is not logged"
        value = value[part]
    return value


PLATFORM_REQUEST_LOG = 'log_id("run.googleapis.com/requests")'


def log_metrics() -> dict[str, dict[str, Any]]:
    """The log metrics over the service's own lines (those over Cloud Run's request log read
    httpRequest fields that the platform writes, not the service)."""
    result = run_cli("render", "--env", "staging")
    assert result.code == 0, result.err
    objects = json.loads(result.out)["objects"]
    return {
        o["id"]: o["payload"]
        for o in objects
        if o["kind"] == "log-metric" and PLATFORM_REQUEST_LOG not in o["payload"]["filter"]
    }


def test_every_field_the_log_metrics_read_is_in_the_service_log_line():
    payload = json_payload(one_prediction_log_line())
    metrics = log_metrics()
    assert metrics, "no log metrics rendered"
    for metric_id, metric in metrics.items():
        texts = [
            metric["filter"],
            metric.get("valueExtractor", ""),
            *metric.get("labelExtractors", {}).values(),
        ]
        paths = {path for text in texts for path in JSON_PAYLOAD_PATH.findall(text)}
        assert paths, f"{metric_id} reads no jsonPayload field"
        for path in paths:
            lookup(payload, path)


def test_the_values_have_the_types_the_metrics_expect():
    payload = json_payload(one_prediction_log_line())
    assert lookup(payload, "instances") == 1  # the filter jsonPayload.instances=1
    assert lookup(payload, "fallback") is False
    assert lookup(payload, "backend") == "embedded"
    (label,) = lookup(payload, "prediction.labels")
    (confidence,) = lookup(payload, "prediction.confidences")
    assert isinstance(label, str) and 0.0 <= confidence <= 1.0
    assert isinstance(lookup(payload, "timing_ms.infer"), float)  # the distribution's value

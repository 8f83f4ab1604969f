"""One structured JSON line per request for Cloud Logging, and the Server-Timing header."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from service_helpers import encode

from service import Settings, create_app
from service.labels import CLASS_NAMES

TRACE_ID = "105445aa7843bc8bf206b12000100000"
SECRET_TOKEN = "Bearer sk-do-not-log-me-4f2a"  # noqa: S105 - a marker, not a credential


@pytest.fixture
def logged_app() -> tuple[Flask, io.StringIO]:
    stream = io.StringIO()
    app = create_app(Settings(project_id="demo-project"), log_stream=stream)
    stream.seek(0)
    stream.truncate()  # start-up lines (and maybe the library's diagnostic entry) are not ours
    return app, stream


def request_lines(stream: io.StringIO) -> list[dict]:
    """The request log lines; every line on the stream must be one JSON object."""
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in entries if entry.get("httpRequest")]


def test_one_json_line_per_request_with_cloud_logging_fields(logged_app, golden) -> None:
    app, stream = logged_app
    images, _ = golden
    body = encode(images[1], "PNG")
    response = app.test_client().post(
        "/predict?source=test",
        data=body,
        headers={
            "Content-Type": "image/png",
            "User-Agent": "log-test/1.0",
            "X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1",
            "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
        },
    )
    assert response.status_code == 200

    (entry,) = request_lines(stream)
    assert entry["severity"] == "INFO"
    assert entry["message"] == "POST /predict 200"
    http = entry["httpRequest"]
    assert http["requestMethod"] == "POST"
    assert http["requestUrl"] == "http://localhost/predict?source=REDACTED"
    assert http["status"] == 200
    assert re.fullmatch(r"\d+\.\d{6}s", http["latency"])
    assert http["requestSize"] == str(len(body))
    assert http["responseSize"] == str(len(response.get_data()))
    assert http["userAgent"] == "log-test/1.0"
    assert http["remoteIp"] == "10.0.0.1"  # the hop Cloud Run's front end appended
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["backend"] == "embedded"
    assert entry["fallback"] is False
    assert entry["prediction"]["labels"] == [response.json["predictions"][0]["label"]]
    assert entry["prediction"]["confidences"] == [
        round(response.json["predictions"][0]["confidence"], 4)
    ]
    assert set(entry["timing_ms"]) == {"decode", "preprocess", "infer"}


def test_trace_from_w3c_traceparent(logged_app) -> None:
    app, stream = logged_app
    traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    app.test_client().get("/", headers={"traceparent": traceparent})

    (entry,) = request_lines(stream)
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/spanId"] == "b7ad6b7169203331"


def test_bad_input_is_a_warning_with_its_error_code(logged_app) -> None:
    app, stream = logged_app
    app.test_client().post("/predict", data=b"not an image", content_type="image/png")

    (entry,) = request_lines(stream)
    assert entry["severity"] == "WARNING"
    assert entry["httpRequest"]["status"] == 415
    assert entry["error_code"] == "UNSUPPORTED_IMAGE_FORMAT"


def test_bad_input_line_names_the_backend(logged_app) -> None:
    app, stream = logged_app
    app.test_client().post("/predict", data=b"not an image", content_type="image/png")

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["status"] == 415
    assert entry["backend"] == "embedded"


def test_not_ready_line_names_the_backend(tmp_path: Path) -> None:
    stream = io.StringIO()
    app = create_app(Settings(model_path=tmp_path / "missing.npz"), log_stream=stream)
    stream.seek(0)
    stream.truncate()
    body = encode(np.zeros((28, 28), np.uint8), "PNG")
    app.test_client().post("/predict", data=body, content_type="image/png")

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["status"] == 503
    assert entry["error_code"] == "NOT_READY"
    assert entry["backend"] == "embedded"


def test_query_values_are_redacted_keys_kept(logged_app, golden) -> None:
    app, stream = logged_app
    images, _ = golden
    app.test_client().post(
        "/predict?access_token=tok-do-not-log-me&debug=1&debug=2",
        data=encode(images[0], "PNG"),
        content_type="image/png",
    )

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["requestUrl"] == (
        "http://localhost/predict?access_token=REDACTED&debug=REDACTED&debug=REDACTED"
    )
    assert "tok-do-not-log-me" not in stream.getvalue()


def test_a_bare_query_string_is_redacted_whole(logged_app) -> None:
    app, stream = logged_app
    token = "0f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e"  # noqa: S105 - a marker, not a credential
    app.test_client().get(f"/?{token}&page=2&%2Fodd%20key=1")

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["requestUrl"] == (
        "http://localhost/?REDACTED&page=REDACTED&REDACTED"
    )
    assert token not in stream.getvalue()


def test_other_lines_during_a_request_carry_its_trace_and_redacted_url(logged_app) -> None:
    app, stream = logged_app
    traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    with app.test_request_context(
        "/predict?access_token=tok-do-not-log-me", headers={"traceparent": traceparent}
    ):
        logging.getLogger("service.test").warning("something during the request")

    (entry,) = request_lines(stream)
    assert entry["message"] == "something during the request"
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/labels"] == {"python_logger": "service.test"}
    assert entry["httpRequest"]["requestUrl"] == "http://localhost/predict?access_token=REDACTED"
    assert "tok-do-not-log-me" not in stream.getvalue()


def test_library_records_on_the_root_handler_get_the_redacted_url_too() -> None:
    # Gunicorn's logconfig_dict puts a StructuredLogHandler on the root logger before the app
    # exists; a library's record during a request (a Pillow warning) goes out through it.
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    root_stream = io.StringIO()
    root_handler = StructuredLogHandler(stream=root_stream)
    root = logging.getLogger()
    root.addHandler(root_handler)
    try:
        app = create_app(Settings(project_id="demo-project"), log_stream=io.StringIO())
        root_stream.seek(0)
        root_stream.truncate()
        with app.test_request_context("/predict?access_token=tok-do-not-log-me"):
            logging.getLogger("py.warnings").warning("Tag data larger than file")
    finally:
        root.removeHandler(root_handler)

    (entry,) = request_lines(root_stream)
    assert entry["httpRequest"]["requestUrl"] == "http://localhost/predict?access_token=REDACTED"
    assert "tok-do-not-log-me" not in root_stream.getvalue()


def test_lines_outside_a_request_have_no_request_fields(logged_app) -> None:
    _app, stream = logged_app
    logging.getLogger("service.test").info("start-up")

    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "start-up"
    assert entry["httpRequest"] == {}
    assert entry["logging.googleapis.com/trace"] == ""
    assert entry["logging.googleapis.com/sourceLocation"]["function"] == (
        "test_lines_outside_a_request_have_no_request_fields"
    )


def test_neither_bodies_nor_authorization_headers_are_logged(logged_app, golden) -> None:
    app, stream = logged_app
    images, _ = golden
    content = base64.b64encode(encode(images[2], "PNG")).decode()
    client = app.test_client()
    client.post(
        "/predict",
        json={"instances": [{"content": content}]},
        headers={"Authorization": SECRET_TOKEN},
    )
    client.post(
        "/predict",
        data=b'{"instances": [{"content": "PLAINTEXT-BODY-MARKER"}]}',
        headers={"Authorization": SECRET_TOKEN, "Content-Type": "application/json"},
    )

    logged = stream.getvalue()
    assert len(request_lines(stream)) == 2
    assert "sk-do-not-log-me" not in logged
    assert "Authorization" not in logged and "authorization" not in logged
    assert content[:40] not in logged
    assert "PLAINTEXT-BODY-MARKER" not in logged


def test_server_timing_reports_decode_preprocess_and_infer(logged_app, golden) -> None:
    app, _ = logged_app
    images, _ = golden
    client = app.test_client()
    for response in (
        client.post("/predict", data=encode(images[0], "PNG"), content_type="image/png"),
        client.post("/predict", json={"instances": [{"pixels": images[0].tolist()}]}),
    ):
        header = response.headers["Server-Timing"]
        stages = dict(re.findall(r"(\w+);dur=(\d+\.\d+)", header))
        assert list(stages) == ["decode", "preprocess", "infer"]
        assert all(float(ms) >= 0 for ms in stages.values())
        assert float(stages["infer"]) > 0


@pytest.mark.parametrize(
    ("forwarded_for", "logged"),
    [
        ("6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own entry comes first
        ("198.51.100.7", "198.51.100.7"),
        ("6.6.6.6,2001:db8::1", "2001:db8::1"),
        ("<script>, </script>", "127.0.0.1"),  # not an address: the connection's peer
        ("6.6.6.6, <script>", "127.0.0.1"),
    ],
)
def test_remote_ip_is_the_last_forwarded_hop_and_an_address(
    logged_app, forwarded_for, logged
) -> None:
    app, stream = logged_app
    app.test_client().get(
        "/", headers={"X-Forwarded-For": forwarded_for}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["remoteIp"] == logged
    assert "script" not in stream.getvalue()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Cloud-Trace-Context": "a" * 8000 + "/1;o=1"},
        {"X-Cloud-Trace-Context": "<script>alert(1)</script>/1;o=1"},
        {"X-Cloud-Trace-Context": TRACE_ID[:31] + "/1;o=1"},
        {"traceparent": f"00-{'f' * 8000}-b7ad6b7169203331-01"},
        {"traceparent": f"00-{'0' * 32}-b7ad6b7169203331-01"},
    ],
)
def test_a_trace_id_that_is_not_32_hex_characters_is_dropped(logged_app, headers) -> None:
    app, stream = logged_app
    response = app.test_client().get("/", headers=headers)

    assert response.status_code == 200
    (entry,) = request_lines(stream)
    assert entry["logging.googleapis.com/trace"] == ""
    assert entry["logging.googleapis.com/spanId"] == ""
    assert len(stream.getvalue()) < 2000


def test_a_cloud_trace_span_id_is_logged_as_16_hex_digits(logged_app) -> None:
    app, stream = logged_app
    app.test_client().get("/", headers={"X-Cloud-Trace-Context": f"{TRACE_ID.upper()}/255;o=1"})

    (entry,) = request_lines(stream)
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/spanId"] == "00000000000000ff"
    assert entry["logging.googleapis.com/trace_sampled"] is True


def test_every_route_family_logs_the_same_prediction_fields(logged_app, golden) -> None:
    app, stream = logged_app
    images, labels = golden
    client = app.test_client()
    content = base64.b64encode(encode(images[0], "PNG")).decode()
    tensor = {"name": "image", "shape": [1, 28, 28], "datatype": "UINT8"}
    client.post("/predict", json={"instances": [{"content": content}]})
    client.post("/vertex/predict", json={"instances": [{"content": content}]})
    client.post(
        "/v2/models/fashion-mnist/infer",
        json={"inputs": [{**tensor, "data": images[0].ravel().tolist()}]},
    )

    entries = request_lines(stream)
    assert [entry["httpRequest"]["status"] for entry in entries] == [200, 200, 200]
    for entry in entries:
        assert set(entry["prediction"]) == {"labels", "confidences"}
        assert entry["prediction"]["labels"] == [CLASS_NAMES[labels[0]]]
        assert 0.0 < entry["prediction"]["confidences"][0] <= 1.0
        assert entry["instances"] == 1 and entry["backend"] == "embedded"
        assert entry["model"]["version"]


def test_the_request_line_has_every_field_the_structured_handler_writes(logged_app) -> None:
    app, stream = logged_app
    with app.test_request_context("/predict"):
        logging.getLogger("service.test").warning("a record through StructuredLogHandler")
    app.test_client().get("/", headers={"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})

    handler_line, request_line = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(handler_line) <= set(request_line)
    assert request_line["logging.googleapis.com/labels"] == {"python_logger": "service.request"}
    assert request_line["logging.googleapis.com/sourceLocation"]["file"].endswith(".py")
    assert request_line["logging.googleapis.com/trace_sampled"] is True


def test_log_level_warning_keeps_only_the_failed_requests_lines() -> None:
    stream = io.StringIO()
    app = create_app(Settings(log_level="WARNING"), log_stream=stream)
    stream.seek(0)
    stream.truncate()
    client = app.test_client()
    client.get("/")
    client.get("/no-such-route")

    (entry,) = request_lines(stream)
    assert entry["httpRequest"]["status"] == 404 and entry["severity"] == "WARNING"


def test_a_broken_log_stream_does_not_fail_the_request(golden) -> None:
    class BrokenPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("the log reader went away")

    app = create_app(Settings(), log_stream=io.StringIO())
    app_with_broken_log = create_app(Settings(), log_stream=BrokenPipe())
    images, _ = golden
    for candidate in (app, app_with_broken_log):
        response = candidate.test_client().post(
            "/predict", data=encode(images[0], "PNG"), content_type="image/png"
        )
        assert response.status_code == 200

"""How a client judges the service's answers (no Locust here, so tests can import it).

A prediction succeeds only as a 200 whose predictions carry the known labels of the images
sent, in order. A deliberately bad request succeeds only as one of its expected 4xx statuses
with the API's error body `{"error": {"code", "message"}}`; accepting it (2xx) or crashing on it
(5xx) is a failure.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from loadtest.samples import Sample


@dataclass(frozen=True)
class BadRequest:
    """A request the API must refuse with one of `expected` statuses and its error body."""

    name: str
    content_type: str
    body: bytes
    expected: frozenset[int]


BAD_REQUESTS = (
    BadRequest("empty image", "image/png", b"", frozenset({400})),
    BadRequest("not an image", "image/png", b"this is not a PNG file", frozenset({400, 415, 422})),
    BadRequest("text body", "text/plain", b"a garment, probably", frozenset({415})),
    BadRequest("broken json", "application/json", b'{"instances": [', frozenset({400})),
    BadRequest(
        "bad base64",
        "application/json",
        json.dumps({"instances": [{"content": "%%% not base64 %%%"}]}).encode(),
        frozenset({400, 422}),
    ),
)


def check_prediction(response: Any, expected: list[Sample]) -> None:
    """Success only for a 200 whose predictions carry the known labels, in order."""
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}: {_error_code(response)}")
        return
    try:
        predictions = response.json()["predictions"]
        labels = [(p["label"], p["class_id"]) for p in predictions]
    except (ValueError, KeyError, TypeError) as error:
        response.failure(f"malformed prediction body: {error!r}")
        return
    if len(labels) != len(expected):
        response.failure(f"{len(labels)} predictions for {len(expected)} images")
        return
    wrong = [
        f"{sample.file}: expected {sample.label}, got {label}"
        for sample, (label, class_id) in zip(expected, labels, strict=True)
        if (label, class_id) != (sample.label, sample.class_id)
    ]
    if wrong:
        response.failure("wrong label: " + "; ".join(wrong[:3]))
        return
    response.success()


def check_rejection(response: Any, expected: frozenset[int]) -> None:
    """Success only for an expected 4xx with the API's {"error": {"code", "message"}} body."""
    status = response.status_code
    if status not in expected:
        response.failure(f"bad request answered {status}, expected {sorted(expected)}")
        return
    try:
        error = response.json()["error"]
        valid = isinstance(error["code"], str) and isinstance(error["message"], str)
    except (ValueError, KeyError, TypeError):
        valid = False
    if valid:
        response.success()
    else:
        response.failure(f"{status} without the API's error body")


def multipart_body(field_name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field (FastHttpUser has no `files=`)."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


def _error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error body"

"""Every class of bad input gets its 4xx JSON error, and the next good request still works.

Each case is a request as a client would send it; the table gives the status and the error
code the API documents for it.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image
from service_helpers import class_ids, encode, gif_declaring, png_declaring

NOISE = np.random.default_rng(7).integers(0, 256, (200, 200), dtype=np.uint8)


def animation(image_format: str) -> bytes:
    frames = [Image.fromarray(np.full((28, 28), value, np.uint8)) for value in (0, 128, 255)]
    return encode(frames[0], image_format, save_all=True, append_images=frames[1:])


def truncated(image_format: str) -> bytes:
    data = encode(NOISE, image_format)
    return data[: len(data) // 2]


def pixels(value: Any = 0, rows: int = 28, columns: int = 28) -> dict:
    return {"instances": [{"pixels": [[value] * columns for _ in range(rows)]}]}


def raw(data: bytes, content_type: str = "image/png") -> dict:
    return {"data": data, "content_type": content_type}


def json_text(text: str) -> dict:
    return {"data": text.encode(), "content_type": "application/json"}


def as_json(document: Any) -> dict:
    return {"json": document}


@dataclass(frozen=True)
class BadRequest:
    name: str
    request: Callable[[], dict]
    status: int
    code: str


BAD_REQUESTS = [
    # Damaged or unreadable images.
    BadRequest("truncated PNG", lambda: raw(truncated("PNG")), 400, "MALFORMED_IMAGE"),
    BadRequest(
        "truncated JPEG", lambda: raw(truncated("JPEG"), "image/jpeg"), 400, "MALFORMED_IMAGE"
    ),
    BadRequest(
        "JPEG header only", lambda: raw(encode(NOISE, "JPEG")[:200]), 400, "MALFORMED_IMAGE"
    ),
    BadRequest("empty body", lambda: raw(b""), 400, "EMPTY_IMAGE"),
    BadRequest("text sent as PNG", lambda: raw(b"hello, world"), 415, "UNSUPPORTED_IMAGE_FORMAT"),
    BadRequest(
        "PDF sent as JPEG",
        lambda: raw(b"%PDF-1.7\n%\xe2\xe3", "image/jpeg"),
        415,
        "UNSUPPORTED_IMAGE_FORMAT",
    ),
    BadRequest(
        "PPM: Pillow reads it, the API does not",
        lambda: raw(b"P5\n28 28\n255\n" + bytes(784)),
        415,
        "UNSUPPORTED_IMAGE_FORMAT",
    ),
    # Huge declared dimensions: refused before any pixel is decoded.
    BadRequest(
        "PNG declaring 100000x100000",
        lambda: raw(png_declaring(100_000, 100_000)),
        413,
        "IMAGE_TOO_LARGE",
    ),
    BadRequest(
        "PNG declaring 5000x5000", lambda: raw(png_declaring(5000, 5000)), 413, "IMAGE_TOO_LARGE"
    ),
    BadRequest(
        "GIF declaring 65535x65535",
        lambda: raw(gif_declaring(65535, 65535), "image/gif"),
        413,
        "IMAGE_TOO_LARGE",
    ),
    BadRequest(
        "real 5000x5000 PNG bomb (24 kB)",
        lambda: raw(encode(Image.new("L", (5000, 5000)), "PNG")),
        413,
        "IMAGE_TOO_LARGE",
    ),
    # Several frames: which one is the garment? Refused rather than guessed.
    BadRequest(
        "animated GIF", lambda: raw(animation("GIF"), "image/gif"), 422, "MULTI_FRAME_IMAGE"
    ),
    BadRequest(
        "animated WebP", lambda: raw(animation("WEBP"), "image/webp"), 422, "MULTI_FRAME_IMAGE"
    ),
    BadRequest("animated PNG", lambda: raw(animation("PNG")), 422, "MULTI_FRAME_IMAGE"),
    BadRequest(
        "multi-page TIFF", lambda: raw(animation("TIFF"), "image/tiff"), 422, "MULTI_FRAME_IMAGE"
    ),
    # Pixels: non-finite, out of range, wrong shapes, wrong types.
    BadRequest(
        "NaN pixel",
        lambda: json_text(json.dumps(pixels(0)).replace("[[0,", "[[NaN,", 1)),
        422,
        "NON_FINITE_NUMBER",
    ),
    BadRequest(
        "Infinity",
        lambda: json_text('{"instances": [{"pixels": [[Infinity]]}]}'),
        422,
        "NON_FINITE_NUMBER",
    ),
    BadRequest(
        "-Infinity",
        lambda: json_text('{"instances": [{"pixels": [[-Infinity]]}]}'),
        422,
        "NON_FINITE_NUMBER",
    ),
    BadRequest(
        "1e999 overflows to infinity",
        lambda: json_text('{"instances": [{"pixels": [[1e999]]}]}'),
        422,
        "NON_FINITE_NUMBER",
    ),
    BadRequest(
        "a 40-digit integer",
        lambda: json_text('{"instances": [{"pixels": [[' + "9" * 40 + "]]}]}"),
        422,
        "NUMBER_OUT_OF_RANGE",
    ),
    BadRequest("pixel 256", lambda: as_json(pixels(256)), 422, "PIXEL_OUT_OF_RANGE"),
    BadRequest("pixel -1", lambda: as_json(pixels(-1)), 422, "PIXEL_OUT_OF_RANGE"),
    BadRequest("27 rows", lambda: as_json(pixels(rows=27)), 422, "INVALID_PIXELS"),
    BadRequest("rows of 29", lambda: as_json(pixels(columns=29)), 422, "INVALID_PIXELS"),
    BadRequest(
        "flat 784 values",
        lambda: as_json({"instances": [{"pixels": [0] * 784}]}),
        422,
        "INVALID_PIXELS",
    ),
    BadRequest("28x28x3 values", lambda: as_json(pixels([0, 0, 0])), 422, "INVALID_PIXELS"),
    BadRequest("strings as pixels", lambda: as_json(pixels("0")), 422, "INVALID_PIXELS"),
    BadRequest("booleans as pixels", lambda: as_json(pixels(True)), 422, "INVALID_PIXELS"),
    BadRequest(
        "null pixels", lambda: as_json({"instances": [{"pixels": None}]}), 422, "INVALID_PIXELS"
    ),
    # Batches.
    BadRequest(
        "65 instances (MAX_BATCH 64)",
        lambda: as_json({"instances": [{"pixels": [[0] * 28] * 28}] * 65}),
        413,
        "BATCH_TOO_LARGE",
    ),
    BadRequest(
        "65 multipart files",
        lambda: {
            "data": {"image": [(io.BytesIO(encode(NOISE, "PNG")), f"{i}.png") for i in range(65)]},
            "content_type": "multipart/form-data",
        },
        413,
        "BATCH_TOO_LARGE",
    ),
    BadRequest("no instances", lambda: as_json({"instances": []}), 422, "EMPTY_BATCH"),
    # Malformed JSON documents.
    BadRequest(
        "deeply nested JSON", lambda: json_text("[" * 100_000 + "]" * 100_000), 400, "JSON_TOO_DEEP"
    ),
    BadRequest(
        "deeply nested pixels",
        lambda: json_text('{"instances": [{"pixels": ' + "[" * 50_000 + "]" * 50_000 + "}]}"),
        400,
        "JSON_TOO_DEEP",
    ),
    BadRequest("invalid JSON", lambda: json_text('{"instances": [}'), 400, "INVALID_JSON"),
    BadRequest(
        "invalid UTF-8",
        lambda: {"data": b'{"instances": "\xff"}', "content_type": "application/json"},
        400,
        "INVALID_JSON",
    ),
    BadRequest("JSON array at the top", lambda: as_json([1, 2, 3]), 400, "INVALID_REQUEST"),
    BadRequest(
        "instances not a list",
        lambda: as_json({"instances": {"pixels": []}}),
        400,
        "INVALID_REQUEST",
    ),
    BadRequest(
        "instance with neither key",
        lambda: as_json({"instances": [{"image": "x"}]}),
        400,
        "INVALID_REQUEST",
    ),
    BadRequest(
        "instance with both keys",
        lambda: as_json({"instances": [{"content": "", "pixels": []}]}),
        400,
        "INVALID_REQUEST",
    ),
    BadRequest(
        "content not base64",
        lambda: as_json({"instances": [{"content": "not base64!"}]}),
        400,
        "INVALID_BASE64",
    ),
    BadRequest(
        "content not a string",
        lambda: as_json({"instances": [{"content": 12}]}),
        400,
        "INVALID_BASE64",
    ),
    BadRequest(
        "base64 of non-image bytes",
        lambda: as_json({"instances": [{"content": base64.b64encode(b"plain text").decode()}]}),
        415,
        "UNSUPPORTED_IMAGE_FORMAT",
    ),
    # Sizes and media types.
    BadRequest(
        "body over MAX_BODY_BYTES",
        lambda: raw(b"\x89PNG" + bytes(10 * 1024 * 1024)),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    BadRequest("text/plain", lambda: raw(b"hello", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    BadRequest(
        "form-urlencoded (curl -d)",
        lambda: {"data": {"image": "abc"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    BadRequest(
        "image/svg+xml", lambda: raw(b"<svg/>", "image/svg+xml"), 415, "UNSUPPORTED_MEDIA_TYPE"
    ),
    BadRequest(
        "no Content-Type", lambda: {"data": encode(NOISE, "PNG")}, 415, "UNSUPPORTED_MEDIA_TYPE"
    ),
    BadRequest(
        "multipart without an image field",
        lambda: {
            "data": {"file": (io.BytesIO(encode(NOISE, "PNG")), "a.png")},
            "content_type": "multipart/form-data",
        },
        400,
        "MISSING_IMAGE_FIELD",
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case.name for case in BAD_REQUESTS])
def test_bad_input_gets_its_json_error_then_a_good_request_works(
    client: FlaskClient, golden, case: BadRequest
) -> None:
    response = client.post("/predict", **case.request())

    assert response.status_code == case.status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == case.code
    assert error["message"]

    images, labels = golden
    good = client.post("/predict", data=encode(images[5], "PNG"), content_type="image/png")
    assert good.status_code == 200
    assert class_ids(good.json) == [labels[5]]


def test_the_error_names_the_bad_instance_of_a_batch(client: FlaskClient, golden) -> None:
    images, _ = golden
    instances = [{"pixels": images[0].tolist()}, {"pixels": [[300] * 28] * 28}]
    response = client.post("/predict", json={"instances": instances})

    assert response.status_code == 422
    assert response.json["error"]["message"].startswith("instances[1]")


def test_an_out_of_range_pixel_is_named_with_the_value_as_sent(client) -> None:
    rows = [[0] * 28 for _ in range(28)]
    rows[3][4] = 255.0000001
    rows[9][1] = -0.5
    response = client.post("/predict", json={"instances": [{"pixels": rows}]})

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "PIXEL_OUT_OF_RANGE"
    assert "2 do not" in error["message"]
    assert "pixels[3][4] = 255.0000001" in error["message"]

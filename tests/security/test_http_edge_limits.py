"""The edge's limits at their boundaries, through the app's WSGI entry point (no sockets needed):
a multipart form of exactly MAX_BATCH + 16 parts is served, one more part is BATCH_TOO_LARGE
however the body is split into reads, and a body of exactly MAX_BODY_BYTES is read whole."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask

from service import Settings, create_app
from service.errors import ApiError
from service.server.body_limit import LimitedInput
from service.server.multipart import StrictRequest
from tests.security.http_edge_client import multipart, png_bytes

MAX_BATCH = 4
MAX_PARTS = MAX_BATCH + 16  # service/__init__.py: MAX_FORM_PARTS
IMAGE = png_bytes(0)


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(
        Settings(max_batch=MAX_BATCH, max_body_bytes=64 * 1024), log_stream=io.StringIO()
    )


def form(images: int, notes: int) -> bytes:
    return multipart([("image", IMAGE)] * images + [("note", b"x")] * notes)


def post_form(app: Flask, body: bytes) -> Any:
    return app.test_client().post(
        "/predict", data=body, content_type="multipart/form-data; boundary=edge-boundary"
    )


def test_a_form_of_exactly_the_part_limit_is_served(app: Flask) -> None:
    response = post_form(app, form(images=MAX_BATCH, notes=MAX_PARTS - MAX_BATCH))
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["predictions"]) == MAX_BATCH


@pytest.mark.parametrize("images", [0, MAX_BATCH, MAX_BATCH + 1])
def test_one_part_more_is_a_batch_too_large(app: Flask, images: int) -> None:
    response = post_form(app, form(images=images, notes=MAX_PARTS + 1 - images))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "BATCH_TOO_LARGE"


class Trickle:
    """A body that arrives `step` bytes per read (read only, like Gunicorn's), so delimiters
    straddle reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(self._step if size < 0 else min(size, self._step))


@pytest.mark.parametrize("step", [1, 3, 7, 15, 16, 17])
def test_parts_are_counted_across_reads(step: int) -> None:
    for parts, expected in ((MAX_PARTS, MAX_PARTS), (MAX_PARTS + 1, None)):
        body = multipart([("note", b"x")] * parts)
        environ = {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": "multipart/form-data; boundary=edge-boundary",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": Trickle(body, step),
        }
        request = StrictRequest(environ)
        request.max_form_parts = MAX_PARTS
        if expected is None:
            with pytest.raises(ApiError, match="more than 20 parts") as raised:
                request.files  # noqa: B018 - parsing is the point
            assert raised.value.code == "BATCH_TOO_LARGE"
        else:
            assert len(request.files.getlist("note")) == expected


@pytest.mark.parametrize("step", [1, 1000, 4096, None])
def test_a_body_of_exactly_the_limit_reads_whole_and_one_byte_more_does_not(step) -> None:
    limit = 4096
    exact = LimitedInput(Trickle(b"a" * limit, step or limit), limit)
    read = b"".join(iter(lambda: exact.read(step or -1), b""))
    assert read == b"a" * limit and exact.at_end and exact.failed is None

    over = LimitedInput(Trickle(b"a" * (limit + 1), step or limit), limit)
    with pytest.raises(ApiError, match="MAX_BODY_BYTES") as raised:
        while over.read(step or -1):
            pass
    assert raised.value.code == "PAYLOAD_TOO_LARGE"
    assert over.failed is raised.value

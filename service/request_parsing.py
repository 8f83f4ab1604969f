"""Read the instances of a prediction request: raw image body, multipart upload or JSON.

Each instance comes out either as image bytes (decoded later, one at a time, so that a batch
never holds more than one full-size decoded image) or as a validated 28x28 pixel array.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np
from flask import Request

from service.errors import ApiError
from service.inference import Instance, check_batch
from service.preprocess import MODEL_SIZE

IMAGE_MEDIA_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"}
)
JSON_MEDIA_TYPE = "application/json"
MULTIPART_MEDIA_TYPE = "multipart/form-data"
MULTIPART_FIELD = "image"
# Python's parser already stops very deep nesting with a RecursionError; this keeps a number
# with thousands of digits from costing a quadratic int() conversion.
_MAX_NUMBER_DIGITS = 32


class _NumberError(ValueError):
    """A JSON number the API refuses: raised from inside the parser, reported as a 422."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_instances(request: Request, max_batch: int) -> list[Instance]:
    """The request's instances in order; `ApiError` (400/413/415/422) when the request is bad."""
    media_type = request.mimetype
    if media_type in IMAGE_MEDIA_TYPES:
        instances = [Instance(image_bytes=request.get_data(cache=False))]
    elif media_type == MULTIPART_MEDIA_TYPE:
        instances = _multipart_instances(request)
    elif media_type == JSON_MEDIA_TYPE:
        instances = _json_instances(request.get_data(cache=False))
    else:
        accepted = ", ".join(sorted(IMAGE_MEDIA_TYPES | {JSON_MEDIA_TYPE, MULTIPART_MEDIA_TYPE}))
        shown = media_type or "none"
        raise ApiError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type {shown!r} is not accepted; use one of: {accepted}.",
        )
    check_batch(len(instances), max_batch)
    return instances


def _multipart_instances(request: Request) -> list[Instance]:
    uploads = request.files.getlist(MULTIPART_FIELD)
    if not uploads:
        raise ApiError(
            400,
            "MISSING_IMAGE_FIELD",
            f"The multipart form has no file field named {MULTIPART_FIELD!r}.",
        )
    return [Instance(image_bytes=upload.read()) for upload in uploads]


def _json_instances(body: bytes) -> list[Instance]:
    document = parse_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("instances"), list):
        raise ApiError(
            400, "INVALID_REQUEST", 'The JSON body must be an object {"instances": [...]}.'
        )
    return [json_instance(item, index) for index, item in enumerate(document["instances"])]


def parse_json(body: bytes) -> Any:
    """A JSON body, refusing non-finite numbers and huge integers; `ApiError` (4xx) if bad."""
    try:
        return json.loads(
            body,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _NumberError as error:
        raise ApiError(422, error.code, str(error)) from None
    except RecursionError:
        raise ApiError(400, "JSON_TOO_DEEP", "The JSON body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "INVALID_JSON", f"The body is not valid JSON: {error}.") from None


def _refuse_constant(name: str) -> float:
    raise _NumberError("NON_FINITE_NUMBER", f"{name} is not accepted: numbers must be finite.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError("NON_FINITE_NUMBER", f"{text} is beyond the range of finite numbers.")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_NUMBER_DIGITS:
        raise _NumberError("NUMBER_OUT_OF_RANGE", f"The number {text[:16]}... has too many digits.")
    return int(text)


def json_instance(item: Any, index: int) -> Instance:
    """`instances[index]` of a JSON body: {"content": base64 image} or {"pixels": 28x28}."""
    where = f"instances[{index}]"
    if not isinstance(item, dict) or ("content" in item) == ("pixels" in item):
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f'{where}: expected an object with either "content" (base64 image) or "pixels".',
        )
    if "content" in item:
        return Instance(image_bytes=_base64_image(item["content"], where))
    return Instance(pixels=_pixel_array(item["pixels"], where))


def _base64_image(content: Any, where: str) -> bytes:
    if not isinstance(content, str):
        raise ApiError(400, "INVALID_BASE64", f"{where}.content: expected a base64 string.")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "INVALID_BASE64", f"{where}.content: not valid base64 (RFC 4648)."
        ) from None


def _pixel_array(pixels: Any, where: str) -> np.ndarray:
    """A 28x28 list of lists of numbers within 0-255, as float64."""
    shape_message = (
        f"{where}.pixels: expected {MODEL_SIZE} rows of {MODEL_SIZE} numbers (0-255), "
        "one list per row"
    )
    if not isinstance(pixels, list) or len(pixels) != MODEL_SIZE:
        raise ApiError(422, "INVALID_PIXELS", f"{shape_message}.")
    for row_index, row in enumerate(pixels):
        if not isinstance(row, list) or len(row) != MODEL_SIZE:
            raise ApiError(422, "INVALID_PIXELS", f"{shape_message}; row {row_index} is not.")
        # bool is an int subclass: `true` must not pass for 1.
        if not all(type(value) in (int, float) for value in row):
            raise ApiError(
                422, "INVALID_PIXELS", f"{where}.pixels[{row_index}]: every value must be a number."
            )
    array = np.array(pixels, dtype=np.float64)
    outside = (array < 0) | (array > 255)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        # The value as sent (repr keeps every digit): 255.0000001 must not read as 255.
        raise ApiError(
            422,
            "PIXEL_OUT_OF_RANGE",
            f"{where}.pixels: values must lie within 0-255; {int(outside.sum())} do not, "
            f"the first being pixels[{row}][{column}] = {pixels[row][column]!r}.",
        )
    return array

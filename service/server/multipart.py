"""A multipart parser that says what is wrong with a form instead of dropping it.

Werkzeug's form parser is silent by default: a form without a boundary parameter, or whose body
does not use the declared boundary, parses as an empty form (werkzeug/formparser.py, `parse`
catches ValueError), so the view could only say "no image field". And its part limit
(MAX_FORM_PARTS) answers a generic 413 while a form of fewer parts, but more files than
MAX_BATCH, gets BATCH_TOO_LARGE. `StrictFormDataParser` names the problem (400
INVALID_MULTIPART) and answers too many parts with BATCH_TOO_LARGE, counted here from the
boundary delimiters as the body streams through (RFC 7578 / RFC 2046 section 5.1.1: the
boundary never occurs inside a part).
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.formparser import FormDataParser, MultiPartParser

from service.errors import ApiError


class StrictFormDataParser(FormDataParser):
    """Werkzeug's parser, with its multipart errors turned into ApiErrors."""

    def _parse_multipart(
        self,
        stream: Any,
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> Any:
        boundary = options.get("boundary", "").encode("latin-1", "replace")
        if not boundary:
            raise _invalid("the Content-Type has no boundary parameter")
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=None,  # counted by _PartCounter, with the batch's error code
            cls=self.cls,
        )
        counted = _PartCounter(stream, boundary, self.max_form_parts)
        try:
            form, files = parser.parse(counted, boundary, content_length)
        except ValueError as error:
            raise _invalid(_reason(error)) from None
        return stream, form, files


class StrictRequest(Request):
    """Flask's request with the strict multipart parser."""

    form_data_parser_class = StrictFormDataParser


class _PartCounter:
    """The form's stream, raising BATCH_TOO_LARGE once more than `max_parts` parts begin: each
    part starts with a `--boundary` delimiter, and one more closes the form."""

    def __init__(self, stream: Any, boundary: bytes, max_parts: int | None) -> None:
        self._stream = stream
        self._delimiter = b"--" + boundary
        self._max_parts = max_parts
        self._delimiters = 0
        self._tail = b""  # the end of the last read, for a delimiter split across two reads

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if self._max_parts is None or not data:
            return data
        window = self._tail + data
        self._delimiters += window.count(self._delimiter)
        self._tail = window[-(len(self._delimiter) - 1) :] if len(self._delimiter) > 1 else b""
        # The delimiter after part N + 1 (or its closing one) proves N + 1 parts.
        if self._delimiters > self._max_parts + 1:
            raise ApiError(
                413,
                "BATCH_TOO_LARGE",
                f"The multipart form has more than {self._max_parts} parts: a request holds "
                "at most MAX_BATCH images (one file part each) and a few other fields.",
            )
        return data


def _reason(error: ValueError) -> str:
    # Werkzeug's messages (werkzeug/sansio/multipart.py): "... cannot parse beyond State.X".
    text = str(error)
    if "PREAMBLE" in text:
        return "the body does not start with the boundary declared in the Content-Type"
    if "beyond" in text:
        return "the body ends before the closing boundary"
    return "a part is malformed (each needs a Content-Disposition header with a name)"


def _invalid(reason: str) -> ApiError:
    return ApiError(400, "INVALID_MULTIPART", f"The multipart/form-data body is invalid: {reason}.")

"""The malformed requests of the protocol-level error table (README, "Errors"), as raw bytes,
with the answer each must get (tests/security/test_http_edge.py). Every request carries a token
in its query and its Authorization header, and a marker in another header's value."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from tests.security.http_edge_client import chunked, multipart, png_bytes

LIMIT = 256 * 1024  # MAX_BODY_BYTES for this suite: small, so over-limit bodies are cheap
SECRET = b"edge-secret-token-5c1f"
HEADER_SECRET = b"header-value-marker-77aa"
QUERY = b"?access_token=" + SECRET + b"&page=2"
HOST = b"Host: edge.test"
CREDENTIALS = (b"Authorization: Bearer " + SECRET, b"X-Edge-Marker: " + HEADER_SECRET)
CHUNKED = b"Transfer-Encoding: chunked"
PNG = b"Content-Type: image/png"
JSON = b"Content-Type: application/json"
OIP_INFER = b"/v2/models/fashion-mnist/infer"


def request(line: bytes, *headers: bytes, body: bytes = b"", host: bool = True) -> bytes:
    """Raw bytes of one request: `line`, Host (unless told not to), the credentials, `headers`."""
    fields = ([HOST] if host else []) + [*CREDENTIALS, *headers]
    return line + b"\r\n" + b"".join(field + b"\r\n" for field in fields) + b"\r\n" + body


def sized(body: bytes) -> bytes:
    return b"Content-Length: %d" % len(body)


def form_type(boundary: bytes | None = b"edge-boundary") -> bytes:
    suffix = b"; boundary=" + boundary if boundary else b""
    return b"Content-Type: multipart/form-data" + suffix


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    status: int
    code: str  # the documented code; under /v2 the body is {"error": message} instead
    closes: bool = True  # the answer ends the connection (Connection: close)

    @property
    def open_inference(self) -> bool:
        return self.raw.split(b" ", 2)[1].startswith(b"/v2/")


IMAGE = png_bytes(0)
OVER = b"\0" * (LIMIT + 1)
FORM = multipart([("image", IMAGE)])
CASES = [
    # 1. malformed chunked framing, on each route family
    Case(
        "chunk size zz",
        request(
            b"POST /predict" + QUERY + b" HTTP/1.1", PNG, CHUNKED, body=b"zz\r\nabc\r\n0\r\n\r\n"
        ),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "chunk size -5",
        request(b"POST /vertex/predict HTTP/1.1", JSON, CHUNKED, body=b"-5\r\nabc\r\n0\r\n\r\n"),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "chunk without its CRLF",
        request(b"POST " + OIP_INFER + b" HTTP/1.1", JSON, CHUNKED, body=b'5\r\n{"id"XX0\r\n\r\n'),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "bad chunk extension",
        request(b"POST /predict HTTP/1.1", PNG, CHUNKED, body=b"3;\x01=x\r\nabc\r\n0\r\n\r\n"),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "malformed trailer",
        request(
            b"POST /predict HTTP/1.1", PNG, CHUNKED, body=chunked(IMAGE, trailer=b"Bad T: x\r\n")
        ),
        400,
        "BAD_REQUEST",
    ),
    # 2. one body limit for every framing
    Case(
        "chunked PNG and padding over the limit",
        request(b"POST /predict HTTP/1.1", PNG, CHUNKED, body=chunked(IMAGE, OVER)),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Case(
        "chunked JSON over the limit",
        request(
            b"POST /predict HTTP/1.1",
            JSON,
            CHUNKED,
            body=chunked(b'{"instances": [{"content": "', b"A" * LIMIT, b'"}]}'),
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Case(
        "chunked multipart over the limit",
        request(
            b"POST /predict HTTP/1.1",
            form_type(),
            CHUNKED,
            body=chunked(multipart([("image", IMAGE + OVER)])),
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Case(
        "chunked Vertex AI body over the limit",
        request(b"POST /vertex/predict HTTP/1.1", JSON, CHUNKED, body=chunked(b"[" * (LIMIT + 1))),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Case(
        "chunked Open Inference body over the limit",
        request(b"POST " + OIP_INFER + b" HTTP/1.1", JSON, CHUNKED, body=chunked(OVER)),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Case(
        "Content-Length over the limit",
        request(b"POST /predict HTTP/1.1", PNG, sized(OVER), body=OVER),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    # 3 and 5. request lines and headers Gunicorn's parser refuses
    Case(
        "raw non-ASCII byte in the request line",
        request(b"GET /ready?access_token=" + SECRET + b"&q=caf\xc3\xa9 HTTP/1.1"),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "tab in the request line",
        request(b"GET /ready?access_token=" + SECRET + b"\t&q=x HTTP/1.1"),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "tab in an Open Inference request line",
        request(b"GET /v2/health/ready?access_token=" + SECRET + b"\t HTTP/1.1"),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "malformed header name",
        request(b"GET /ready" + QUERY + b" HTTP/1.1", b"Authorization Bearer " + SECRET + b": y"),
        400,
        "BAD_REQUEST",
    ),
    Case("invalid method", request(b"G(T /ready" + QUERY + b" HTTP/1.1"), 400, "BAD_REQUEST"),
    Case("invalid version", request(b"GET /ready" + QUERY + b" HTTP/9.1"), 400, "BAD_REQUEST"),
    Case(
        "request line too long",
        request(b"GET /ready" + QUERY + b"&pad=" + b"a" * 9000 + b" HTTP/1.1"),
        414,
        "URI_TOO_LONG",
    ),
    Case(
        "header field too large",
        request(b"GET /ready" + QUERY + b" HTTP/1.1", b"X-Pad: " + b"a" * 9000),
        431,
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
    ),
    Case(
        "too many header fields",
        request(b"GET /ready" + QUERY + b" HTTP/1.1", *[b"X-F%d: 1" % i for i in range(120)]),
        431,
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
    ),
    Case(
        "unknown expectation",
        request(b"POST /predict HTTP/1.1", PNG, b"Expect: bogus", sized(IMAGE), body=IMAGE),
        417,
        "EXPECTATION_FAILED",
    ),
    Case(
        "unknown transfer coding",
        request(b"POST /predict HTTP/1.1", PNG, b"Transfer-Encoding: bogus", body=IMAGE),
        501,
        "UNSUPPORTED_TRANSFER_CODING",
    ),
    Case(
        "Content-Length and Transfer-Encoding",
        request(b"POST /predict HTTP/1.1", PNG, CHUNKED, sized(IMAGE), body=chunked(IMAGE)),
        400,
        "BAD_REQUEST",
    ),
    Case(
        "two Content-Lengths",
        request(b"POST /predict HTTP/1.1", PNG, sized(IMAGE), b"Content-Length: 1", body=IMAGE),
        400,
        "BAD_REQUEST",
    ),
    # 5. the smaller ones
    Case(
        "HTTP/1.1 without Host",
        request(b"GET /ready" + QUERY + b" HTTP/1.1", host=False),
        400,
        "MISSING_HOST",
        closes=False,
    ),
    Case(
        "two Host headers",
        request(b"GET /ready HTTP/1.1", b"Host: other.test"),
        400,
        "BAD_REQUEST",
        closes=False,
    ),
    Case(
        "gzip-encoded image",
        request(
            b"POST /predict HTTP/1.1",
            PNG,
            b"Content-Encoding: gzip",
            sized(gzip.compress(IMAGE)),
            body=gzip.compress(IMAGE),
        ),
        415,
        "UNSUPPORTED_CONTENT_ENCODING",
        closes=False,
    ),
    Case(
        "gzip-encoded Open Inference body",
        request(
            b"POST " + OIP_INFER + b" HTTP/1.1",
            JSON,
            b"Content-Encoding: gzip",
            CHUNKED,
            body=chunked(gzip.compress(b'{"inputs": []}')),
        ),
        415,
        "UNSUPPORTED_CONTENT_ENCODING",
    ),
    Case(
        "multipart without a boundary",
        request(b"POST /predict HTTP/1.1", form_type(None), sized(FORM), body=FORM),
        400,
        "INVALID_MULTIPART",
        closes=False,
    ),
    Case(
        "multipart with another boundary",
        request(b"POST /predict HTTP/1.1", form_type(b"not-the-one"), sized(FORM), body=FORM),
        400,
        "INVALID_MULTIPART",
        closes=False,
    ),
    Case(
        "multipart of 100 small parts",
        request(
            b"POST /predict HTTP/1.1",
            form_type(),
            sized(parts := multipart([("note", b"x")] * 100)),
            body=parts,
        ),
        413,
        "BATCH_TOO_LARGE",
        closes=False,
    ),
    Case(
        "multipart of 70 images",
        request(
            b"POST /predict HTTP/1.1",
            form_type(),
            sized(images := multipart([("image", IMAGE)] * 70)),
            body=images,
        ),
        413,
        "BATCH_TOO_LARGE",
        closes=False,
    ),
]

# For pipelining: a good request, a parser rejection, a framing rejection.
GOOD = request(b"GET /ready HTTP/1.1")
BAD_LINE = request(b"GET /ready?access_token=" + SECRET + b"\t HTTP/1.1")
BAD_CHUNK = request(b"POST /predict HTTP/1.1", PNG, CHUNKED, body=b"zz\r\n")

"""Schema-driven fuzzing: schemathesis generates requests from the service's own OpenAPI
document (GET /openapi.json, as the app serves it) and sends them over HTTP to the service under
real Gunicorn (service/gunicorn.conf.py), so that the whole stack answers: Gunicorn's HTTP parser
and limits, Werkzeug's body limit, the views, the error handlers.

Every operation is exercised with valid and deliberately invalid data (schemathesis' examples,
coverage and fuzzing phases). Whatever is sent, the service must answer without a 5xx, and the
answer must be one the document declares: a listed status code, a listed content type and a body
valid against that response's schema. At least MIN_REQUESTS requests are sent in all.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
from collections import Counter

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import Settings, create_app
from tests.gunicorn_process import GunicornProcess

MIN_REQUESTS = 1000
# Generated cases per operation and phase: 12 operations, most of them without parameters, so
# the few with bodies or path parameters carry most of the requests.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "200"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Requests sent, by operation ("POST /predict"), filled in by the schema test below.
requests_sent: Counter[str] = Counter()


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all"},  # valid and invalid data
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
            },
        }
    )


def served_document() -> dict:
    """GET /openapi.json of an app with the settings the Gunicorn under test uses (defaults).

    Loaded at import time, as schemathesis needs the operations to generate the tests; its
    lazy `from_fixture` loader does not work with pytest 9 (it sets the removed Node._nodeid).
    """
    app = create_app(Settings(), log_stream=io.StringIO())
    return app.test_client().get("/openapi.json").get_json()


# BMP and TIFF bodies are bytes like PNG ones (schemathesis ships no serializer for them).
schemathesis.serializer.alias(["image/bmp", "image/tiff"], "image/png")
DOCUMENT = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=fuzz_config())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),  # CI: the same cases on every run
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_every_response_is_declared_and_none_is_a_server_error(
    case: schemathesis.Case, live_service: GunicornProcess
) -> None:
    requests_sent[f"{case.method.upper()} {case.path}"] += 1
    try:
        case.call_and_validate(base_url=live_service.base_url, checks=CHECKS, timeout=30)
    except Exception:
        print(live_service.log_text()[-4000:])  # the worker's side of a failure
        raise


def test_at_least_a_thousand_requests_were_sent() -> None:
    total = sum(requests_sent.values())
    print(f"schemathesis sent {total} requests: {dict(requests_sent)}")
    assert total >= MIN_REQUESTS, dict(requests_sent)
    # The operations that take input (a body or a path parameter) got a real share of them.
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation or "{" in path:
                assert requests_sent[f"{method.upper()} {path}"] >= 50, dict(requests_sent)


def tiff_with_a_tag_past_its_end() -> bytes:
    """A 28x28 gray TIFF whose DateTime tag points past the end of the file: Pillow decodes the
    pixels and reports the damage with warnings.warn."""
    pixels = bytes(range(28)) * 28
    entries = [  # (tag, type: 2 ASCII / 3 SHORT / 4 LONG, count, value or offset)
        *[(tag, 3, 1, value) for tag, value in ((256, 28), (257, 28), (258, 8), (259, 1))],
        *[(tag, 3, 1, value) for tag, value in ((262, 1), (277, 1), (278, 28))],
        (273, 4, 1, 8),  # StripOffsets: right after the header
        (279, 4, 1, len(pixels)),  # StripByteCounts
        (306, 2, 20, 1_000_000),  # DateTime: 20 characters, far past the end
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        field = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + field
    return b"II*\x00" + struct.pack("<I", 8 + len(pixels)) + pixels + ifd + bytes(4)


def test_hostile_input_leaves_the_log_one_json_object_per_line(
    live_service: GunicornProcess,
) -> None:
    """After the fuzzing above, and an image that makes Pillow warn, every line that Gunicorn
    and the app printed (stdout and stderr) is a JSON object, as Cloud Logging expects."""
    response = requests.post(
        f"{live_service.base_url}/predict",
        data=tiff_with_a_tag_past_its_end(),
        headers={"Content-Type": "image/tiff"},
        timeout=10,
    )
    assert response.status_code == 200
    time.sleep(0.3)  # the worker writes its request line after the response
    # Split on newlines only, as Cloud Logging's agent does (str.splitlines would also split on
    # U+2028 or U+0085, which fuzzed paths put in the messages and JSON may leave unescaped).
    lines = [line for line in live_service.log_text().split("\n") if line.strip()]
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert any("py.warnings" in line for line in lines), "the warning was not logged"

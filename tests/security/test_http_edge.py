"""The HTTP edge, byte for byte: every malformed request the service can receive, sent on a raw
socket to the service under real Gunicorn (service/gunicorn.conf.py).

Each case gets its documented 4xx JSON answer (the Open Inference Protocol's `{"error": "..."}`
under /v2) and exactly one request log line at WARNING with httpRequest and its status, whether
Gunicorn's parser or the app refused it; the next good request is answered correctly; no line of
stdout/stderr carries a token, a header value, a traceback or a 500. The cases are in
tests/security/http_edge_cases.py.

It runs under the configured worker class (gevent by default); `HTTP_EDGE_WORKER_CLASS=gthread`
runs the same suite under the gthread worker (the service's WORKER_CLASS setting).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.model import golden_samples
from tests.gunicorn_process import GunicornProcess, running_gunicorn
from tests.security.http_edge_cases import (
    BAD_CHUNK,
    BAD_LINE,
    CASES,
    CHUNKED,
    FORM,
    GOOD,
    HEADER_SECRET,
    JSON,
    LIMIT,
    PNG,
    SECRET,
    Case,
    form_type,
    request,
    sized,
)
from tests.security.http_edge_client import (
    WORKER_CLASS_VARIABLE,
    Answer,
    chunked,
    exchange,
    log_size,
    png_bytes,
    wait_for_request_lines,
)


def server_environment(**variables: str) -> dict[str, str]:
    environment = {"MAX_BODY_BYTES": str(LIMIT), **variables}
    worker_class = os.environ.get(WORKER_CLASS_VARIABLE)
    if worker_class:
        environment["WORKER_CLASS"] = worker_class
    return environment


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornProcess]:
    log_path = tmp_path_factory.mktemp("http-edge") / "gunicorn.log"
    with running_gunicorn(log_path, environment=server_environment()) as server:
        yield server


def assert_good_prediction(server: GunicornProcess, index: int = 7) -> None:
    _, labels = golden_samples()
    image = png_bytes(index)
    answers = exchange(
        server.port, request(b"POST /predict HTTP/1.1", PNG, sized(image), body=image)
    )
    assert [answer.status for answer in answers] == [200], answers
    assert answers[0].json()["predictions"][0]["class_id"] == labels[index]


def assert_error_body(answer: Answer, case: Case) -> None:
    assert answer.headers["content-type"] == "application/json", answer
    body = answer.json()
    if case.open_inference:
        assert isinstance(body["error"], str) and body["error"], body
    else:
        assert body["error"]["code"] == case.code, body
        assert body["error"]["message"], body
    assert SECRET not in answer.body and HEADER_SECRET not in answer.body


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_malformed_request_gets_its_answer_and_one_log_line(
    edge_server: GunicornProcess, case: Case
) -> None:
    offset = log_size(edge_server)
    answers = exchange(edge_server.port, case.raw)

    assert len(answers) == 1, answers  # answered once, never twice
    (answer,) = answers
    assert answer.status == case.status, answer
    assert_error_body(answer, case)
    if case.closes:
        assert answer.headers["connection"] == "close", answer.headers
    if case.code == "UNSUPPORTED_CONTENT_ENCODING":  # RFC 9110 section 12.5.3
        assert answer.headers["accept-encoding"] == "identity", answer.headers
    (line,) = wait_for_request_lines(edge_server, offset, count=1)
    assert line["severity"] == "WARNING", line
    assert line["httpRequest"]["status"] == case.status, line
    if not case.open_inference:
        assert line["error_code"] == case.code, line
    assert_good_prediction(edge_server)


def test_a_body_of_exactly_the_limit_is_read_whole(edge_server: GunicornProcess) -> None:
    document = b'{"instances": []}'
    exact = document + b" " * (LIMIT - len(document))  # JSON whitespace up to the limit
    answers = exchange(
        edge_server.port, request(b"POST /predict HTTP/1.1", JSON, CHUNKED, body=chunked(exact))
    )
    assert answers[0].status == 422 and answers[0].json()["error"]["code"] == "EMPTY_BATCH"

    one_more = exact + b" "
    answers = exchange(
        edge_server.port, request(b"POST /predict HTTP/1.1", JSON, CHUNKED, body=chunked(one_more))
    )
    assert answers[0].status == 413 and answers[0].json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_chunked_multipart_upload_is_answered(edge_server: GunicornProcess) -> None:
    _, labels = golden_samples()
    answers = exchange(
        edge_server.port,
        request(b"POST /predict HTTP/1.1", form_type(), CHUNKED, body=chunked(FORM)),
    )
    assert answers[0].status == 200, answers
    assert answers[0].json()["predictions"][0]["class_id"] == labels[0]


@pytest.mark.parametrize(
    "rejected",
    [BAD_LINE, BAD_CHUNK, request(b"POST /predict HTTP/1.1", CHUNKED, body=chunked(b"text"))],
    ids=["parser rejection", "framing rejection", "unread chunked body"],
)
def test_requests_pipelined_behind_a_rejected_one_are_refused_cleanly(
    edge_server: GunicornProcess, rejected: bytes
) -> None:
    answers = exchange(edge_server.port, GOOD + rejected + GOOD)

    assert [answer.status for answer in answers][:1] == [200], answers
    assert answers[1].status in (400, 415) and answers[1].headers["connection"] == "close"
    assert len(answers) == 2, "nothing may be answered after Connection: close"


def test_requests_pipelined_behind_a_keep_alive_rejection_are_answered(
    edge_server: GunicornProcess,
) -> None:
    refused = request(
        b"POST /predict HTTP/1.1", b"Content-Type: text/plain", sized(b"text"), body=b"text"
    )
    answers = exchange(edge_server.port, refused + GOOD)

    assert [answer.status for answer in answers] == [415, 200], answers


def test_debug_lines_do_not_quote_a_request_either(tmp_path: Path) -> None:
    environment = server_environment(LOG_LEVEL="DEBUG")
    with running_gunicorn(tmp_path / "debug.log", workers=1, environment=environment) as server:
        exchange(server.port, b"GET /ready?access_token=" + SECRET)  # cut short by the client
        exchange(server.port, GOOD[:-2] + b"X-Cut: " + HEADER_SECRET)
        for case in CASES:
            exchange(server.port, case.raw)
        text = server.log_text()

    assert "Ignored premature client disconnection" in text  # the DEBUG path was taken
    assert SECRET.decode() not in text
    assert HEADER_SECRET.decode() not in text


def test_no_line_carries_a_secret_a_traceback_or_a_500(edge_server: GunicornProcess) -> None:
    """Run last in the module: every case above has been logged by now."""
    for case in CASES:  # once more, so that this test also holds when run on its own
        exchange(edge_server.port, case.raw)
    text = edge_server.log_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON

    assert sum(1 for entry in entries if entry.get("httpRequest", {}).get("status")) >= len(CASES)
    assert SECRET.decode() not in text
    assert HEADER_SECRET.decode() not in text
    assert "Traceback" not in text
    assert not [entry for entry in entries if entry.get("severity") in ("ERROR", "CRITICAL")]
    assert not [entry for entry in entries if entry.get("httpRequest", {}).get("status") == 500]

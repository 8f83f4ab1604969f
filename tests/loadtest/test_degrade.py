"""The fault-injection middleware (staging drills and tests only)."""

import json
import time

import pytest

from loadtest.degrade import FaultInjection


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def call(middleware, path="/predict"):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    import io

    body = b"".join(
        middleware(
            {"PATH_INFO": path, "CONTENT_LENGTH": "3", "wsgi.input": io.BytesIO(b"abc")},
            start_response,
        )
    )
    return seen["status"], body


def test_off_by_default():
    middleware = FaultInjection(app)
    assert {call(middleware)[0] for _ in range(50)} == {"200 OK"}


def test_exactly_the_requested_share_fails_spread_evenly():
    middleware = FaultInjection(app, error_share=0.05)
    statuses = [call(middleware)[0] for _ in range(200)]
    failed = [i for i, status in enumerate(statuses) if status.startswith("503")]
    assert len(failed) == 10
    assert failed == list(range(19, 200, 20))  # every 20th request


def test_failures_carry_the_api_error_body():
    status, body = call(FaultInjection(app, error_share=1.0))
    assert status == "503 Service Unavailable"
    assert json.loads(body) == {
        "error": {"code": "INJECTED_FAULT", "message": "fault injected by a drill"}
    }


def test_latency_is_added_to_predictions_only():
    middleware = FaultInjection(app, latency_ms=50, error_share=1.0)
    started = time.perf_counter()
    assert call(middleware, "/ready")[0] == "200 OK"  # health and readiness untouched
    assert time.perf_counter() - started < 0.04
    started = time.perf_counter()
    call(middleware)
    assert time.perf_counter() - started >= 0.05


@pytest.mark.parametrize(("latency", "share"), [(-1, 0), (0, 1.5)])
def test_nonsense_settings_are_refused(latency, share):
    with pytest.raises(ValueError):
        FaultInjection(app, latency_ms=latency, error_share=share)

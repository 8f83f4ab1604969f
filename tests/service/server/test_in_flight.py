"""The worker's bounds on requests in flight and on the request bodies it holds
(service/server/in_flight.py), through WSGI; the gunicorn-level drills are in tests/drills/."""

from __future__ import annotations

import io
import json
import threading

from service.server.in_flight import ByteBudget, InFlightLimit


def test_the_byte_budget_lets_what_fits_through_and_holds_the_rest():
    budget = ByteBudget(100)
    assert budget.reserve(60, timeout=0)
    assert not budget.reserve(60, timeout=0.01)  # would pass the limit
    assert budget.reserve(40, timeout=0)  # a smaller one still fits
    budget.release(60)
    assert budget.reserve(60, timeout=0)


def test_one_request_larger_than_the_budget_still_gets_its_turn_alone():
    budget = ByteBudget(10)
    assert budget.reserve(50, timeout=0)
    assert not budget.reserve(1, timeout=0.01)
    budget.release(50)
    assert budget.reserved == 0


def test_a_waiting_request_proceeds_when_bytes_are_released():
    budget = ByteBudget(100)
    budget.reserve(100, timeout=0)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(budget.reserve(30, timeout=5)))
    waiter.start()
    budget.release(100)
    waiter.join(timeout=5)
    assert got == [True]


def call(app, method: str, body: bytes = b"", path: str = "/predict") -> tuple[str, bytes]:
    statuses = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
    }
    chunks = app(environ, lambda status, headers: statuses.append(status))
    return statuses[0], b"".join(chunks)


def test_the_body_is_read_before_the_app_runs_and_its_bytes_released_after():
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ok"]

    limit = InFlightLimit(app, limit=2, max_body_bytes=1000, body_budget=500)
    assert call(limit, "POST", b"x" * 300) == ("200 OK", b"ok")
    assert seen == [b"x" * 300] and limit.bodies.reserved == 0


def test_beyond_the_slots_a_post_gets_503_overloaded_and_a_get_still_runs():
    release = threading.Event()

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            release.wait(5)
        start_response("200 OK", [])
        return [b"ok"]

    limit = InFlightLimit(app, limit=1, max_body_bytes=1000, body_budget=500, wait=0.05)
    holder = threading.Thread(target=call, args=(limit, "POST", b"a"))
    holder.start()
    try:
        status, body = call(limit, "POST", b"b")
        assert status.startswith("503") and json.loads(body)["error"]["code"] == "OVERLOADED"
        # Under /v2 the error has the Open Inference Protocol's shape, a string.
        status, body = call(limit, "POST", b"c", path="/v2/models/fashion-mnist/infer")
        assert status.startswith("503") and "CONCURRENCY" in json.loads(body)["error"]
        assert call(limit, "GET") == ("200 OK", b"ok")
    finally:
        release.set()
        holder.join(timeout=5)

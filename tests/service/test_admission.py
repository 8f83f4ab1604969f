"""Admission: the decode budget of a worker process, and what clients see when it is full.

An image reserves what decoding it will cost before any pixel is decoded; one that could never
fit gets 413, a full budget makes requests wait in arrival order and then answers 503 with
Retry-After. The same budget works with threads and with gevent's greenlets.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from PIL import Image
from service_helpers import REPO_ROOT, encode

from service import Settings, admission, create_app
from service.config import ConfigError
from service.errors import ApiError

MIB = 2**20


def budget_of(capacity: int, wait_seconds: float) -> admission.MemoryBudget:
    return admission.MemoryBudget(capacity, wait_seconds, "DECODE_MEMORY_MB", "decoding images")


def test_a_reservation_holds_its_bytes_until_the_block_ends() -> None:
    budget = budget_of(10 * MIB, 0.01)
    with budget.reserve(4 * MIB), budget.reserve(6 * MIB):
        assert budget.in_use == 10 * MIB
    assert budget.in_use == 0


def test_a_cost_over_the_whole_budget_waits_for_all_of_it() -> None:
    """(An image that alone costs more is refused with 413 before it gets here.)"""
    budget = budget_of(10 * MIB, 5)
    with budget.reserve(11 * MIB):
        assert budget.in_use == 10 * MIB


def test_a_full_budget_answers_503_after_the_wait() -> None:
    budget = budget_of(10 * MIB, 0.2)
    with budget.reserve(8 * MIB):
        started = time.monotonic()
        with pytest.raises(ApiError) as overloaded, budget.reserve(4 * MIB):
            pass
        waited = time.monotonic() - started
    assert (overloaded.value.status, overloaded.value.code) == (503, "OVERLOADED")
    assert 0.15 <= waited < 2
    assert budget.in_use == 0


def test_a_waiting_request_runs_as_soon_as_the_budget_has_room() -> None:
    budget = budget_of(10 * MIB, 5)
    admitted = threading.Event()

    def second() -> None:
        with budget.reserve(4 * MIB):
            admitted.set()

    with budget.reserve(8 * MIB):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not admitted.wait(0.2)
    assert admitted.wait(2)
    waiter.join()


def test_waiters_are_admitted_in_arrival_order() -> None:
    """A small image that would fit does not overtake a large one that waits for room."""
    budget = budget_of(10 * MIB, 5)
    order: list[str] = []

    def decode(name: str, cost: int) -> None:
        with budget.reserve(cost):
            order.append(name)
            time.sleep(0.05)

    with budget.reserve(6 * MIB):
        large = threading.Thread(target=decode, args=("large", 8 * MIB))
        large.start()
        time.sleep(0.1)  # the large one is queued
        small = threading.Thread(target=decode, args=("small", 2 * MIB))
        small.start()
        time.sleep(0.1)
        assert order == []  # 6 + 2 would fit, but the large one is first in line
    large.join()
    small.join()
    assert order == ["large", "small"]


def test_the_budget_works_with_gevent_greenlets() -> None:
    """gevent patches threading: a greenlet waiting for room yields to the one that holds it,
    and one waiting too long gets the 503."""
    script = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import gevent
        from service.admission import MemoryBudget
        from service.errors import ApiError

        budget = MemoryBudget(10, 0.3, "DECODE_MEMORY_MB", "decoding images")
        results = []

        def holder():
            with budget.reserve(8):
                gevent.sleep(0.1)
            results.append("holder done")

        def waiter(name, cost):
            try:
                with budget.reserve(cost):
                    results.append(name)
            except ApiError as error:
                results.append(f"{name} {error.status}")

        def starved():
            with budget.reserve(10):
                gevent.sleep(1)

        gevent.joinall([gevent.spawn(holder), gevent.spawn(waiter, "waiter", 4)])
        gevent.joinall([gevent.spawn(starved), gevent.spawn(waiter, "late", 1)])
        print(results)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['holder done', 'waiter', 'late 503']"


def test_the_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "MAX_IMAGE_SIDE": "1000",
            "DECODE_MEMORY_MB": "64",
            "BODY_MEMORY_MB": "32",
            "DECODE_WAIT_SECONDS": "0.5",
        }
    )
    assert (settings.max_image_side, settings.decode_memory_mb) == (1000, 64)
    assert (settings.body_memory_mb, settings.decode_wait_seconds) == (32, 0.5)
    defaults = Settings.from_env({})
    assert (defaults.max_image_side, defaults.decode_memory_mb) == (8192, 192)
    assert defaults.body_memory_mb == 80
    for name, value in (
        ("MAX_IMAGE_SIDE", "27"),
        ("DECODE_MEMORY_MB", "8"),
        ("BODY_MEMORY_MB", "0"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


def _png(mode: str, side: int) -> bytes:
    return encode(Image.new(mode, (side, side), 128), "PNG")


def test_through_http_a_full_budget_is_a_503_with_retry_after() -> None:
    app = create_app(
        Settings(decode_memory_mb=16, decode_wait_seconds=0.1), log_stream=io.StringIO()
    )
    client = app.test_client()
    body = _png("RGB", 1024)  # about 7 MiB to decode
    vertex_body = {"instances": [{"content": base64.b64encode(body).decode()}]}
    with app.app_context(), admission.current().budget.reserve(12 * MIB):
        answers = [
            client.post("/predict", data=body, content_type="image/png"),
            client.post(
                "/predict",
                data={"image": [(io.BytesIO(body), "a.png"), (io.BytesIO(body), "b.png")]},
            ),
            client.post("/vertex/predict", json=vertex_body),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.json
        assert answer.headers["Retry-After"] == "1"
    assert answers[0].json["error"]["code"] == "OVERLOADED"
    assert answers[1].json["error"]["message"].startswith("instances[0]")

    after = client.post("/predict", data=body, content_type="image/png")
    assert after.status_code == 200, after.json
    assert "Retry-After" not in after.headers


def test_through_http_an_image_over_the_whole_budget_is_a_413() -> None:
    client = create_app(Settings(decode_memory_mb=16), log_stream=io.StringIO()).test_client()
    answer = client.post("/predict", data=_png("RGBA", 2048), content_type="image/png")
    assert answer.status_code == 413
    assert answer.json["error"]["code"] == "IMAGE_TOO_LARGE"
    assert "2048x2048 PNG image (RGBA)" in answer.json["error"]["message"]
    small = client.post("/predict", data=_png("L", 1024), content_type="image/png")
    assert small.status_code == 200, small.json


def test_small_images_are_not_counted() -> None:
    """Up to 256x256 no reservation is made (the reservation would cost more than the
    decode), so a 28x28 upload is answered even when the budget is held."""
    app = create_app(
        Settings(decode_memory_mb=16, decode_wait_seconds=0.1), log_stream=io.StringIO()
    )
    client = app.test_client()
    with app.app_context(), admission.current().budget.reserve(16 * MIB):
        answer = client.post("/predict", data=_png("L", 28), content_type="image/png")
    assert answer.status_code == 200, answer.json


def test_malloc_is_tuned_on_glibc() -> None:
    if admission._LIBC is None:
        pytest.skip("not glibc: mallopt and malloc_trim do not exist here")
    assert admission.tune_allocator() is True
    admission.release_free_memory()  # harmless at any time


def test_large_bodies_wait_for_the_body_budget_and_small_ones_do_not() -> None:
    """Under gevent, 80 requests in flight could hold 80 bodies of MAX_BODY_BYTES: a large
    body reserves twice its length before the view reads it, and releases it at the end."""
    app = create_app(Settings(body_memory_mb=4, decode_wait_seconds=0.1), log_stream=io.StringIO())
    client = app.test_client()
    large = encode(Image.effect_noise((400, 400), 64).convert("L"), "PNG")  # ~150 KB+ of noise
    large += b"\0" * (300 * 1024)  # trailing bytes after IEND: ignored by the decoder
    bodies = app.extensions["admission"].bodies
    with bodies.reserve(7 * MIB // 2):  # 3.5 of 4 MiB: no room for twice ~450 KB
        refused = client.post("/predict", data=large, content_type="image/png")
        small = client.post("/predict", data=_png("L", 28), content_type="image/png")
    assert refused.status_code == 503
    assert refused.json["error"]["code"] == "OVERLOADED"
    assert "BODY_MEMORY_MB" in refused.json["error"]["message"]
    assert refused.headers["Retry-After"] == "1"
    assert small.status_code == 200, small.json

    answered = client.post("/predict", data=large, content_type="image/png")
    assert answered.status_code == 200, answered.json
    assert bodies.in_use == 0
    rejected = client.post("/predict", data=b"x" * (300 * 1024), content_type="image/png")
    assert rejected.status_code == 415
    assert bodies.in_use == 0  # released on an error too


def test_a_body_costs_twice_its_length_and_a_chunked_one_twice_the_limit() -> None:
    limits = admission.Admission.from_settings(Settings(max_body_bytes=5 * MIB))
    assert limits.body_cost(100, chunked=False) == 0  # small: not counted
    assert limits.body_cost(MIB, chunked=False) == 2 * MIB
    assert limits.body_cost(None, chunked=True) == 10 * MIB  # length unknown until the end
    assert limits.body_cost(None, chunked=False) == 0  # no body

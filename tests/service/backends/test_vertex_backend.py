"""The Vertex AI backend with the real google-cloud-aiplatform client, over gRPC and REST, against
the fake Vertex AI server in this process (and a port that never answers)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fakes.vertex_server import Fault, SilentListener
from service.backends import BackendNotReady
from service.backends import vertex as vertex_module
from service.backends.embedded import EmbeddedBackend
from service.backends.vertex import VertexBackend, build_prediction_client
from service.config import Settings, VertexSettings
from service.model import load_classifier
from service.resilience import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable

ENDPOINT = "projects/fashion-test/locations/us-central1/endpoints/987"
TRANSPORTS = ["grpc", "rest"]


def api_endpoint(fake, transport: str) -> str:
    return f"http://127.0.0.1:{fake.grpc_port}" if transport == "grpc" else fake.rest_url


def make_backend(endpoint: str, transport: str, **overrides) -> VertexBackend:
    fallback = overrides.pop("fallback", None)
    warmup_images = overrides.pop("warmup_images", None)
    vertex = {
        "endpoint_id": "987",
        "api_endpoint": endpoint,
        "transport": transport,
        "timeout_seconds": 1.0,
        "retries": 2,
        "retry_budget": 10.0,  # every retry allowed: these tests count attempts per request
        "breaker_failures": 100,
        **overrides,
    }
    settings = Settings(
        project_id="fashion-test",
        predict_timeout_seconds=3.0,
        vertex=VertexSettings(**vertex),
    )
    return VertexBackend(settings, fallback, warmup_images)


@pytest.fixture(scope="module")
def golden_inputs(golden) -> tuple[np.ndarray, np.ndarray]:
    images, labels = golden
    return images.astype(np.float32) / 255.0, labels


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("instance_format", ["automl-image", "vector"])
def test_answers_are_the_embedded_models_whatever_the_transport_and_format(
    fake_vertex, golden_inputs, transport, instance_format
):
    images, labels = golden_inputs
    backend = make_backend(
        api_endpoint(fake_vertex, transport), transport, instance_format=instance_format
    )
    result = backend.predict(images)
    expected = load_classifier().predict_proba(images)
    assert result.probabilities.shape == (10, 10) and result.probabilities.dtype == np.float32
    assert np.allclose(result.probabilities, expected, atol=1e-6)
    assert result.probabilities.argmax(axis=1).tolist() == labels.tolist()
    assert (result.model_name, result.model_version, result.fallback) == (
        "fashion-mnist-automl",
        "7341985214160478208",
        False,
    )
    assert fake_vertex.faults.stats()["endpoints"] == [ENDPOINT]


FAULTS = [
    ("unavailable", UpstreamUnavailable, 3),
    ("overloaded", UpstreamUnavailable, 3),
    ("internal", UpstreamBadResponse, 1),
    ("malformed", UpstreamBadResponse, 1),
    ("garbage", UpstreamBadResponse, 1),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("kind", "error_type", "attempts"), FAULTS)
def test_each_fault_maps_to_its_error_after_the_allowed_attempts(
    fake_vertex, golden_inputs, transport, kind, error_type, attempts
):
    backend = make_backend(api_endpoint(fake_vertex, transport), transport)
    fake_vertex.faults.set(Fault(kind))
    with pytest.raises(error_type) as raised:
        backend.predict(golden_inputs[0][:1])
    assert fake_vertex.faults.stats()["attempts"] == attempts == raised.value.attempts


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_call_that_never_answers_ends_at_the_deadline(fake_vertex, golden_inputs, transport):
    backend = make_backend(api_endpoint(fake_vertex, transport), transport, retries=10)
    fake_vertex.faults.set(Fault("hang"))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        backend.predict(golden_inputs[0][:1], deadline=started + 0.8)
    elapsed = time.monotonic() - started
    print(f"{transport} hang: 504 after {elapsed * 1000:.0f} ms (deadline 800 ms)")
    assert elapsed < 0.8 + 0.5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_port_that_accepts_and_never_speaks_ends_at_the_deadline(golden_inputs, transport):
    silent = SilentListener()
    try:
        backend = make_backend(f"http://127.0.0.1:{silent.port}", transport)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            backend.predict(golden_inputs[0][:1], deadline=started + 0.8)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    print(f"{transport} silent port: 504 after {elapsed * 1000:.0f} ms (deadline 800 ms)")
    assert elapsed < 0.8 + 0.5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_connection_is_unavailable_and_retried(golden_inputs, transport):
    from tests.gunicorn_process import unused_loopback_port

    backend = make_backend(f"http://127.0.0.1:{unused_loopback_port()}", transport)
    with pytest.raises(UpstreamUnavailable) as raised:
        backend.predict(golden_inputs[0][:1])
    assert raised.value.attempts == 3 and raised.value.retry_after >= 1


def test_fallback_answers_when_vertex_fails_and_is_marked(fake_vertex, golden_inputs):
    images, labels = golden_inputs
    embedded = EmbeddedBackend(load_classifier())
    backend = make_backend(api_endpoint(fake_vertex, "grpc"), "grpc", fallback=embedded)
    fake_vertex.faults.set(Fault("internal"))
    result = backend.predict(images)
    assert result.fallback is True and result.model_name == "fashion-mnist-cnn"
    assert result.probabilities.argmax(axis=1).tolist() == labels.tolist()


def test_readiness_waits_for_the_endpoint_when_it_is_required(
    fake_vertex, golden_inputs, monkeypatch
):
    monkeypatch.setattr(vertex_module, "READY_RECHECK_SECONDS", 0.0)
    backend = make_backend(
        api_endpoint(fake_vertex, "grpc"), "grpc", warmup_images=golden_inputs[0][:1]
    )
    fake_vertex.faults.set(Fault("unavailable"))
    assert backend.warm_up() is False
    with pytest.raises(BackendNotReady, match="not reachable yet"):
        backend.check_ready()
    fake_vertex.faults.set(Fault("none"))
    backend.check_ready()  # re-runs the start-up prediction, which now succeeds


def test_an_endpoint_not_required_at_startup_leaves_readiness_to_the_fallback(
    fake_vertex, golden_inputs
):
    backend = make_backend(
        api_endpoint(fake_vertex, "grpc"),
        "grpc",
        required_at_startup=False,
        fallback=EmbeddedBackend(load_classifier()),
    )
    fake_vertex.faults.set(Fault("unavailable"))
    backend.check_ready()  # no exception: the embedded model can answer
    assert backend.predict(golden_inputs[0][:1]).fallback is True


def test_plaintext_is_refused_beyond_loopback():
    with pytest.raises(ValueError, match="only on loopback"):
        build_prediction_client("http://10.1.2.3:8500", "grpc")

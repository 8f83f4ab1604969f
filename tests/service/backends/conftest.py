"""Fixtures for the Vertex AI backend: the fake Vertex AI server, in this process or as its own
process, and API-tier Gunicorn processes pointed at it (the seed's two tiers on loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.vertex_server import FakeVertexServer
from tests.gunicorn_process import GunicornProcess, running_gunicorn
from tests.service.backends.vertex_tiers import (
    BREAKER_FAILURES,
    BREAKER_RESET_SECONDS,
    CALL_TIMEOUT_SECONDS,
    DEADLINE_SECONDS,
    RETRIES,
    FakeVertexProcess,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def fake_vertex_server() -> Iterator[FakeVertexServer]:
    with FakeVertexServer() as server:
        yield server


@pytest.fixture
def fake_vertex(fake_vertex_server: FakeVertexServer) -> Iterator[FakeVertexServer]:
    """The in-process fake, with no fault and zeroed counters for each test."""
    fake_vertex_server.faults.reset()
    yield fake_vertex_server
    fake_vertex_server.faults.reset()


@pytest.fixture(scope="session")
def fake_vertex_process() -> Iterator[FakeVertexProcess]:
    """The model tier: the fake Vertex AI server over the embedded model, as a process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.vertex_server", "--port", "0", "--grpc-port", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ports = json.loads(process.stdout.readline() or "{}")  # its first line: the ports
        if not ports:
            pytest.fail(f"the fake Vertex AI server exited with {process.wait(timeout=10)}")
        yield FakeVertexProcess(process, ports["rest_port"], ports["grpc_port"])
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def api_tiers(
    fake_vertex_process: FakeVertexProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, GunicornProcess]]:
    """Two API tiers in front of the fake:
    - "grpc": ENDPOINT_ID alone (so BACKEND=vertex), gRPC, AutoML image instances, no fallback;
    - "fallback": REST, 784-float vector instances, VERTEX_FALLBACK=embedded."""
    common = {
        "PROJECT_ID": "fashion-test",
        "LOCATION": "us-central1",
        "ENDPOINT_ID": "1234567890",
        "PREDICT_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        "VERTEX_TIMEOUT_SECONDS": str(CALL_TIMEOUT_SECONDS),
        "VERTEX_RETRIES": str(RETRIES),
        # Every retry allowed: these tiers check each request's attempts one by one; the
        # budget itself is held to its default under load (test_two_tier_under_load.py).
        "VERTEX_RETRY_BUDGET": "10",
        "VERTEX_BREAKER_FAILURES": str(BREAKER_FAILURES),
        "VERTEX_BREAKER_RESET_SECONDS": str(BREAKER_RESET_SECONDS),
    }
    logs = tmp_path_factory.mktemp("api-tiers")
    grpc_environment = {
        **common,
        "VERTEX_API_ENDPOINT": f"http://127.0.0.1:{fake_vertex_process.grpc_port}",
    }
    fallback_environment = {
        **common,
        "VERTEX_API_ENDPOINT": fake_vertex_process.rest_url,
        "VERTEX_TRANSPORT": "rest",
        "VERTEX_INSTANCE_FORMAT": "vector",
        "VERTEX_FALLBACK": "embedded",
    }
    # One worker each, so that one circuit breaker sees every request of a tier.
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                running_gunicorn(logs / f"{name}.log", workers=1, environment=environment)
            )
            for name, environment in (
                ("grpc", grpc_environment),
                ("fallback", fallback_environment),
            )
        }

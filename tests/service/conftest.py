"""Fixtures for the service tests: the app and its test client, images in every format, the
Fashion-MNIST test set, and a real Gunicorn serving the app on 127.0.0.1."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from service_helpers import free_port

from service import Settings, create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
MISSING_DATASET = "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"


@pytest.fixture(scope="session")
def app() -> Flask:
    """The app with default settings; its logs go to a buffer, not the test output."""
    return create_app(Settings(), log_stream=io.StringIO())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def golden() -> tuple[np.ndarray, np.ndarray]:
    """The readiness self-test's official test images (uint8 k x 28 x 28) and labels."""
    from service.model import golden_samples

    return golden_samples()


@pytest.fixture(scope="session")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    """The official 10,000 test images and labels; skips when the data set is missing."""
    from service.model.dataset import DatasetMissingError, load_split

    try:
        return load_split("test")
    except DatasetMissingError as error:
        pytest.skip(f"{MISSING_DATASET}: {error}")


@dataclass
class RunningServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`gunicorn -c service/gunicorn.conf.py "service:create_app()"` on a free loopback port,
    two workers, up and ready (GET /ready answers 200) before the first test uses it."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "stdout.log"
    environment = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "THREADS": "4",
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "service/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "service:create_app()",
    ]
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = RunningServer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        wait_until_ready(server, timeout=60)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            if requests.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn not ready within {timeout} s:\n{server.log_text()}")

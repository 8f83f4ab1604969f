"""Fixtures for the service tests: the app and its test client, the golden samples, the
Fashion-MNIST test set, and a real Gunicorn serving the app on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import Settings, create_app
from tests.gunicorn_process import GunicornProcess, running_gunicorn

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


@pytest.fixture(scope="session")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornProcess]:
    """The service under real Gunicorn with two workers, shared by the session's tests."""
    with running_gunicorn(tmp_path_factory.mktemp("gunicorn") / "stdout.log") as server:
        yield server

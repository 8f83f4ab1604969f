"""Fixtures for the fuzz tests: the service under real Gunicorn (its configured worker), and its
OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gunicorn_process import GunicornProcess, running_gunicorn


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornProcess]:
    """The service exactly as deployed (gunicorn.conf.py, two gthread workers), on loopback."""
    with running_gunicorn(tmp_path_factory.mktemp("fuzz") / "gunicorn.log") as server:
        yield server

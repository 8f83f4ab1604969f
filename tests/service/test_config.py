"""Settings come from environment variables; a bad value names its variable; limits apply."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from service_helpers import encode

from service import ConfigError, Settings, create_app


def test_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.port == 8080
    assert settings.backend == "embedded"
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.max_pixels == 4096 * 4096
    assert settings.max_batch == 64
    assert settings.log_level == "INFO"
    assert settings.project_id is None


def test_values_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9000",
            "MAX_BODY_BYTES": "2048",
            "MAX_PIXELS": "1000000",
            "MAX_BATCH": "8",
            "LOG_LEVEL": "debug",
            "PROJECT_ID": "demo-project",
            "PREDICT_TIMEOUT_SECONDS": "2.5",
        }
    )

    assert (settings.port, settings.max_body_bytes, settings.max_pixels) == (9000, 2048, 1000000)
    assert (settings.max_batch, settings.log_level) == (8, "DEBUG")
    assert settings.project_id == "demo-project"
    assert settings.predict_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("MAX_BODY_BYTES", "10MB"),
        ("MAX_PIXELS", "100"),
        ("MAX_BATCH", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("BACKEND", "tensorflow"),
        ("PREDICT_TIMEOUT_SECONDS", "-1"),
        ("PREDICT_TIMEOUT_SECONDS", "nan"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_create_app_fails_fast_on_a_bad_environment(monkeypatch) -> None:
    monkeypatch.setenv("MAX_BATCH", "many")
    with pytest.raises(ConfigError, match="MAX_BATCH"):
        create_app(log_stream=io.StringIO())


@pytest.fixture(scope="module")
def tight_client():
    settings = Settings(max_body_bytes=16384, max_pixels=40 * 40, max_batch=2)
    return create_app(settings, log_stream=io.StringIO()).test_client()


def test_configured_limits_apply(tight_client) -> None:
    blank = {"pixels": np.zeros((28, 28), int).tolist()}
    cases = [
        (encode(Image.new("L", (41, 40)), "PNG"), "image/png", 413, "IMAGE_TOO_LARGE"),
        (
            encode(np.random.default_rng(1).integers(0, 256, (40, 40), np.uint8), "BMP"),
            "image/bmp",
            200,
            None,
        ),
        (bytes(16385), "image/png", 413, "PAYLOAD_TOO_LARGE"),
    ]
    for body, content_type, status, code in cases:
        response = tight_client.post("/predict", data=body, content_type=content_type)
        assert response.status_code == status
        if code:
            assert response.json["error"]["code"] == code
    too_many = tight_client.post("/predict", json={"instances": [blank] * 3})
    assert too_many.status_code == 413 and too_many.json["error"]["code"] == "BATCH_TOO_LARGE"
    assert tight_client.post("/predict", json={"instances": [blank] * 2}).status_code == 200

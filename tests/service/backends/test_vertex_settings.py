"""Vertex AI settings from the environment: defaults, selection, and bad combinations."""

from __future__ import annotations

import pytest

from service.config import ConfigError, Settings

SEED = {"PROJECT_ID": "fashion", "LOCATION": "us-central1", "ENDPOINT_ID": "1234"}


def test_endpoint_id_alone_selects_the_vertex_backend_with_safe_defaults():
    settings = Settings.from_env(SEED)
    assert settings.backend == "vertex"
    assert (settings.vertex.transport, settings.vertex.instance_format) == ("grpc", "automl-image")
    assert (settings.vertex.timeout_seconds, settings.vertex.retries) == (1.0, 2)
    assert settings.vertex.fallback == "none" and settings.vertex.required_at_startup is True
    assert settings.vertex.retry_budget == 0.1  # retries <= 10% of calls over 10 s


def test_an_explicit_backend_wins_over_endpoint_id():
    assert Settings.from_env({**SEED, "BACKEND": "embedded"}).backend == "embedded"
    assert Settings.from_env({}).backend == "embedded"


def test_every_vertex_variable_is_read():
    settings = Settings.from_env(
        {
            **SEED,
            "VERTEX_API_ENDPOINT": "http://127.0.0.1:8500",
            "VERTEX_TRANSPORT": "REST",
            "VERTEX_INSTANCE_FORMAT": "vector",
            "VERTEX_TIMEOUT_SECONDS": "0.25",
            "VERTEX_RETRIES": "0",
            "VERTEX_RETRY_BUDGET": "0.5",
            "VERTEX_BREAKER_FAILURES": "3",
            "VERTEX_BREAKER_RESET_SECONDS": "30",
            "VERTEX_FALLBACK": "embedded",
            "VERTEX_REQUIRED_AT_STARTUP": "false",
            "AIP_HTTP_PORT": "8081",
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/v1/models/m:predict",
        }
    )
    assert settings.vertex.api_endpoint == "http://127.0.0.1:8500"
    assert settings.vertex.transport == "rest" and settings.vertex.instance_format == "vector"
    assert (settings.vertex.timeout_seconds, settings.vertex.retries) == (0.25, 0)
    assert (settings.vertex.breaker_failures, settings.vertex.breaker_reset_seconds) == (3, 30.0)
    assert settings.vertex.retry_budget == 0.5
    assert settings.vertex.fallback == "embedded" and settings.vertex.required_at_startup is False
    assert settings.aip_http_port == 8081
    assert (settings.aip_health_route, settings.aip_predict_route) == (
        "/health",
        "/v1/models/m:predict",
    )


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"BACKEND": "vertex"}, "ENDPOINT_ID"),
        ({"ENDPOINT_ID": "1234"}, "PROJECT_ID"),
        ({**SEED, "VERTEX_API_ENDPOINT": "http://10.0.0.8:8500"}, "VERTEX_API_ENDPOINT"),
        ({**SEED, "VERTEX_REQUIRED_AT_STARTUP": "false"}, "VERTEX_FALLBACK=embedded"),
        ({**SEED, "VERTEX_REQUIRED_AT_STARTUP": "maybe"}, "VERTEX_REQUIRED_AT_STARTUP"),
        ({**SEED, "VERTEX_TRANSPORT": "http3"}, "VERTEX_TRANSPORT"),
        ({**SEED, "VERTEX_INSTANCE_FORMAT": "jpeg"}, "VERTEX_INSTANCE_FORMAT"),
        ({**SEED, "VERTEX_TIMEOUT_SECONDS": "0"}, "VERTEX_TIMEOUT_SECONDS"),
        ({**SEED, "VERTEX_RETRIES": "-1"}, "VERTEX_RETRIES"),
        ({**SEED, "VERTEX_RETRY_BUDGET": "0"}, "VERTEX_RETRY_BUDGET"),
        ({**SEED, "VERTEX_RETRY_BUDGET": "11"}, "VERTEX_RETRY_BUDGET"),
        ({**SEED, "VERTEX_API_ENDPOINT": "http://127.0.0.1.evil.test:80"}, "loopback"),
        ({**SEED, "VERTEX_BREAKER_FAILURES": "0"}, "VERTEX_BREAKER_FAILURES"),
        ({**SEED, "VERTEX_FALLBACK": "cache"}, "VERTEX_FALLBACK"),
        ({"AIP_HTTP_PORT": "http"}, "AIP_HTTP_PORT"),
        ({"AIP_PREDICT_ROUTE": "predict"}, "AIP_PREDICT_ROUTE"),
        ({"AIP_HEALTH_ROUTE": "/x/<id>"}, "AIP_HEALTH_ROUTE"),
        ({"AIP_HEALTH_ROUTE": "/same", "AIP_PREDICT_ROUTE": "/same"}, "must differ"),
    ],
)
def test_bad_values_and_combinations_name_the_variable(environment, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(environment)


def test_a_full_endpoint_resource_name_needs_no_project_id():
    name = "projects/fashion/locations/europe-west4/endpoints/77"
    assert Settings.from_env({"ENDPOINT_ID": name}).backend == "vertex"

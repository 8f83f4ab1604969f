"""Service settings, read once from environment variables.

Every setting has a default that works on a laptop and on Cloud Run; a malformed value stops
the service at start-up with a `ConfigError` that names the variable, rather than surfacing
later as a confusing request failure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The one list of each: service/backends/ registers its modules under BACKENDS, and
# service/backends/vertex*.py accept what these name.
BACKENDS = ("embedded", "vertex")
VERTEX_TRANSPORTS = ("grpc", "rest")
VERTEX_INSTANCE_FORMATS = ("automl-image", "vector")
VERTEX_FALLBACKS = ("none", "embedded")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# 4096 x 4096: a 12-megapixel phone photo fits, a decompression bomb does not. What decoding
# such an image costs depends on its mode and format (16 to ~300 MiB): service/admission.py
# bounds the sum in flight per process (DECODE_MEMORY_MB).
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_BATCH = 64
# The longest side an image may declare: a 1 x 16,777,216 PNG (32 KB) is within MAX_PIXELS but
# costs Pillow a line per pixel (0.9 s). 8192 keeps panoramas and 8192 x 2048 scans.
DEFAULT_MAX_IMAGE_SIDE = 8192
# Decoding in flight per worker process (service/admission.py): with a worker's ~100 MB and the
# master's, one worker stays well inside Cloud Run's 512 MiB.
DEFAULT_DECODE_MEMORY_MB = 192
# Large request bodies in flight per worker process, at twice their length each (admission):
# four bodies of MAX_BODY_BYTES, one per gthread thread.
DEFAULT_BODY_MEMORY_MB = 80


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True)
class VertexSettings:
    """The Vertex AI backend's settings (service/backends/vertex.py), read by _vertex_settings."""

    endpoint_id: str | None = None  # ENDPOINT_ID: an id, or projects/P/locations/L/endpoints/E
    location: str = "us-central1"  # LOCATION
    api_endpoint: str | None = None  # VERTEX_API_ENDPOINT; default {location}-aiplatform...
    transport: str = "grpc"
    instance_format: str = "automl-image"
    timeout_seconds: float = 1.0  # per call, always within the request's deadline
    retries: int = 2  # per request
    # Retries over a sliding window, as a share of first attempts (service/resilience.py).
    retry_budget: float = 0.1
    breaker_failures: int = 5
    breaker_reset_seconds: float = 10.0
    fallback: str = "none"
    required_at_startup: bool = True

    def endpoint_path(self, project_id: str | None) -> str:
        """projects/P/locations/L/endpoints/E, as the API names the endpoint."""
        endpoint = self.endpoint_id or ""
        if endpoint.startswith("projects/"):
            return endpoint
        return f"projects/{project_id or ''}/locations/{self.location}/endpoints/{endpoint}"

    @property
    def resolved_api_endpoint(self) -> str:
        return self.api_endpoint or f"{self.location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class Settings:
    """Everything the app factory needs; built by `Settings.from_env()` in production."""

    port: int = 8080
    backend: str = "embedded"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = DEFAULT_MAX_BATCH
    max_image_side: int = DEFAULT_MAX_IMAGE_SIDE
    decode_memory_mb: int = DEFAULT_DECODE_MEMORY_MB
    body_memory_mb: int = DEFAULT_BODY_MEMORY_MB
    decode_wait_seconds: float = 2.0
    log_level: str = "INFO"
    project_id: str | None = None
    model_path: Path | None = None
    predict_timeout_seconds: float = 10.0
    vertex: VertexSettings = field(default_factory=VertexSettings)
    # The model-server routes (service/model_server/), Vertex AI's custom-container contract.
    aip_http_port: int | None = None
    aip_health_route: str = "/vertex/health"
    aip_predict_route: str = "/vertex/predict"

    def __post_init__(self) -> None:
        _check_vertex(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings from `environ`; raise `ConfigError` naming a bad variable."""
        model_path = _text(environ, "MODEL_PATH")
        # ENDPOINT_ID alone selects the Vertex AI backend; BACKEND, when set, always wins.
        vertex = _vertex_settings(environ)
        default_backend = "vertex" if vertex.endpoint_id else "embedded"
        aip_port = _text(environ, "AIP_HTTP_PORT")
        return cls(
            port=_integer(environ, "PORT", 8080, minimum=1, maximum=65535),
            backend=_choice(environ, "BACKEND", default_backend, BACKENDS),
            max_body_bytes=_integer(environ, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1),
            max_pixels=_integer(environ, "MAX_PIXELS", DEFAULT_MAX_PIXELS, minimum=784),
            max_batch=_integer(environ, "MAX_BATCH", DEFAULT_MAX_BATCH, minimum=1),
            max_image_side=_integer(environ, "MAX_IMAGE_SIDE", DEFAULT_MAX_IMAGE_SIDE, minimum=28),
            decode_memory_mb=_integer(
                environ, "DECODE_MEMORY_MB", DEFAULT_DECODE_MEMORY_MB, minimum=16
            ),
            body_memory_mb=_integer(environ, "BODY_MEMORY_MB", DEFAULT_BODY_MEMORY_MB, minimum=1),
            decode_wait_seconds=_number(environ, "DECODE_WAIT_SECONDS", 2.0),
            log_level=_choice(environ, "LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            project_id=_text(environ, "PROJECT_ID") or _text(environ, "GOOGLE_CLOUD_PROJECT"),
            model_path=Path(model_path) if model_path else None,
            predict_timeout_seconds=_number(environ, "PREDICT_TIMEOUT_SECONDS", 10.0),
            vertex=vertex,
            aip_http_port=(
                _integer(environ, "AIP_HTTP_PORT", 8080, minimum=1, maximum=65535)
                if aip_port
                else None
            ),
            aip_health_route=_text(environ, "AIP_HEALTH_ROUTE") or "/vertex/health",
            aip_predict_route=_text(environ, "AIP_PREDICT_ROUTE") or "/vertex/predict",
        )


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _integer(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int:
    upper = f" and at most {maximum}" if maximum is not None else ""
    value = _converted(environ, name, int, f"a whole number of at least {minimum}{upper}")
    if value is None:
        return default
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name}={value!r}: expected at least {minimum}{upper}")
    return value


def _number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    maximum: float = float("inf"),
    expected: str = "a positive, finite number of seconds",
) -> float:
    value = _converted(environ, name, float, expected)
    if value is None:
        return default
    if not 0 < value < float("inf") or value > maximum:
        raise ConfigError(f"{name}={value!r}: expected {expected}")
    return value


def _converted(environ: Mapping[str, str], name: str, convert: type, expected: str) -> Any:
    """`convert(value)` of the variable, None when unset; ConfigError when it does not parse."""
    raw = _text(environ, name)
    if raw is None:
        return None
    try:
        return convert(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected {expected}") from None


def _choice(
    environ: Mapping[str, str],
    name: str,
    default: str,
    choices: tuple[str, ...],
    *,
    upper: bool = False,
) -> str:
    raw = _text(environ, name)
    if raw is None:
        return default
    value = raw.upper() if upper else raw.lower()
    if value not in choices:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine:
    the one check for plaintext endpoints, here and in service/backends/vertex.py."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _vertex_settings(environ: Mapping[str, str]) -> VertexSettings:
    return VertexSettings(
        endpoint_id=_text(environ, "ENDPOINT_ID"),
        location=_text(environ, "LOCATION") or "us-central1",
        api_endpoint=_text(environ, "VERTEX_API_ENDPOINT"),
        transport=_choice(environ, "VERTEX_TRANSPORT", "grpc", VERTEX_TRANSPORTS),
        instance_format=_choice(
            environ, "VERTEX_INSTANCE_FORMAT", "automl-image", VERTEX_INSTANCE_FORMATS
        ),
        timeout_seconds=_number(environ, "VERTEX_TIMEOUT_SECONDS", 1.0),
        retries=_integer(environ, "VERTEX_RETRIES", 2, minimum=0, maximum=10),
        retry_budget=_number(
            environ,
            "VERTEX_RETRY_BUDGET",
            0.1,
            maximum=10.0,
            expected="a share of calls above 0 and at most 10 (0.1: retries <= 10% of calls)",
        ),
        breaker_failures=_integer(environ, "VERTEX_BREAKER_FAILURES", 5, minimum=1),
        breaker_reset_seconds=_number(environ, "VERTEX_BREAKER_RESET_SECONDS", 10.0),
        fallback=_choice(environ, "VERTEX_FALLBACK", "none", VERTEX_FALLBACKS),
        required_at_startup=_boolean(environ, "VERTEX_REQUIRED_AT_STARTUP", True),
    )


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(environ, name)
    if raw is None:
        return default
    if raw.lower() not in _TRUE + _FALSE:
        raise ConfigError(f"{name}={raw!r}: expected true or false")
    return raw.lower() in _TRUE


def _check_vertex(settings: Settings) -> None:
    """Combinations no single variable can catch, named by their variables."""
    for name, route in (
        ("AIP_HEALTH_ROUTE", settings.aip_health_route),
        ("AIP_PREDICT_ROUTE", settings.aip_predict_route),
    ):
        if not route.startswith("/") or any(c in route for c in "<>?# "):
            raise ConfigError(f"{name}={route!r}: expected a path starting with /")
    if settings.aip_health_route == settings.aip_predict_route:
        raise ConfigError("AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE must differ")
    vertex = settings.vertex
    endpoint = vertex.api_endpoint or ""
    if endpoint.startswith("http://") and not is_loopback(urlsplit(endpoint).hostname or ""):
        raise ConfigError(
            f"VERTEX_API_ENDPOINT={endpoint!r}: plaintext http:// is allowed only on loopback"
        )
    if settings.backend != "vertex":
        return
    if not vertex.endpoint_id:
        raise ConfigError("BACKEND=vertex needs ENDPOINT_ID (the Vertex AI endpoint's id)")
    if not settings.project_id and not vertex.endpoint_id.startswith("projects/"):
        raise ConfigError(
            "BACKEND=vertex needs PROJECT_ID, or ENDPOINT_ID as a full resource name "
            "(projects/P/locations/L/endpoints/E)"
        )
    if not vertex.required_at_startup and vertex.fallback == "none":
        raise ConfigError(
            "VERTEX_REQUIRED_AT_STARTUP=false needs VERTEX_FALLBACK=embedded: without an "
            "endpoint and without a fallback the instance could not answer anything"
        )

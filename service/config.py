"""Service settings, read once from environment variables.

Every setting has a default that works on a laptop and on Cloud Run; a malformed value stops
the service at start-up with a `ConfigError` that names the variable, rather than surfacing
later as a confusing request failure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKENDS = ("embedded", "vertex")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# 4096 x 4096: a 12-megapixel phone photo fits, a decompression bomb does not. A decoded
# RGBA image of this size takes 64 MiB, which bounds the memory one request can claim.
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_BATCH = 64


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the app factory needs; built by `Settings.from_env()` in production."""

    port: int = 8080
    backend: str = "embedded"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = DEFAULT_MAX_BATCH
    log_level: str = "INFO"
    project_id: str | None = None
    location: str = "us-central1"
    endpoint_id: str | None = None
    model_path: Path | None = None
    predict_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings from `environ`; raise `ConfigError` naming a bad variable."""
        model_path = _text(environ, "MODEL_PATH")
        return cls(
            port=_integer(environ, "PORT", 8080, minimum=1, maximum=65535),
            backend=_choice(environ, "BACKEND", "embedded", BACKENDS),
            max_body_bytes=_integer(environ, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1),
            max_pixels=_integer(environ, "MAX_PIXELS", DEFAULT_MAX_PIXELS, minimum=784),
            max_batch=_integer(environ, "MAX_BATCH", DEFAULT_MAX_BATCH, minimum=1),
            log_level=_choice(environ, "LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            project_id=_text(environ, "PROJECT_ID") or _text(environ, "GOOGLE_CLOUD_PROJECT"),
            location=_text(environ, "LOCATION") or "us-central1",
            endpoint_id=_text(environ, "ENDPOINT_ID"),
            model_path=Path(model_path) if model_path else None,
            predict_timeout_seconds=_number(environ, "PREDICT_TIMEOUT_SECONDS", 10.0),
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


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    expected = "a positive, finite number of seconds"
    value = _converted(environ, name, float, expected)
    if value is None:
        return default
    if not 0 < value < float("inf"):
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

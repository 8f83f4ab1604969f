"""The backend seam: where probabilities come from (the embedded model, or Vertex AI).

Views hand a backend preprocessed images (float32 (N, 28, 28) in [0, 1], light garment on
black) and get probabilities back; everything about HTTP, decoding and preprocessing stays on
this side of the seam. A new backend is a module with a `build(settings) -> Backend` function,
named in service/config.py's BACKENDS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.config import BACKENDS, ConfigError, Settings


@dataclass(frozen=True)
class BackendResult:
    """What a backend answered for a batch."""

    probabilities: np.ndarray  # float32 (N, 10), one row per image, rows sum to 1
    model_name: str
    model_version: str  # vertex: the deployed model id
    fallback: bool = False  # True when a fallback backend answered


class BackendNotReady(Exception):  # reads as a state: "backend not ready"
    """The backend cannot answer yet (model not loaded, endpoint unreachable...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Backend(Protocol):
    name: str  # "embedded" | "vertex"

    def predict(self, images: np.ndarray, deadline: float | None = None) -> BackendResult:
        """Probabilities for `images`; `deadline` is a time.monotonic() instant. A remote
        backend that fails raises service.resilience.UpstreamFailure (answered 502/503/504)."""
        ...

    def check_ready(self) -> None:
        """Return if the backend can answer; raise `BackendNotReady(reason)` otherwise."""
        ...


# Backend name (service/config.py's one list) -> its module, with a `build(settings) ->
# Backend` function. Imported only when chosen: the embedded service never loads a cloud client.
_FACTORIES = {name: f"service.backends.{name}" for name in BACKENDS}


def build_backend(settings: Settings) -> Backend:
    """The backend that `settings.backend` names."""
    module_name = _FACTORIES.get(settings.backend)
    if module_name is None:
        raise ConfigError(f"BACKEND={settings.backend!r}: expected one of {', '.join(_FACTORIES)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ConfigError(
            f"BACKEND={settings.backend!r}: this build has no {settings.backend} backend"
        ) from None
    return module.build(settings)

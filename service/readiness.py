"""Readiness: the backend, once built, and the golden-sample self-test that must pass before
any route answers a prediction.

The service is ready once the backend is built and a few official test images with known
labels came back with those labels through the same preprocessing as uploads; until then every
readiness route (`GET /ready`, AIP_HEALTH_ROUTE, `/v2/health/ready`) and every prediction
answers 503 with the reason. The self-test also warms the backend up: `create_app` runs it
before the app takes its first request.
"""

from __future__ import annotations

import io
import logging
import threading

import numpy as np
from flask import Flask, current_app
from PIL import Image

from service.backends import Backend, BackendNotReady, build_backend
from service.config import Settings
from service.errors import ApiError
from service.model import golden_samples
from service.preprocess import decode_image, to_model_input

logger = logging.getLogger(__name__)


class Readiness:
    """The backend, once built, and whether the golden self-test has passed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend: Backend | None = None
        self.self_test_passed = False
        self.self_test_samples = 0
        self.model: dict[str, str] | None = None  # name and version, from the self-test
        self._reason = "the backend is not built yet"
        self._lock = threading.Lock()

    def start(self) -> None:
        """Build the backend and run the self-test (logging, not raising, if either fails)."""
        try:
            self.backend = build_backend(self.settings)
        except BackendNotReady as error:
            self._reason = error.reason
            logger.error("backend %s not built: %s", self.settings.backend, error.reason)
            return
        reason = self.not_ready_reason()
        if reason is None:
            logger.info(
                "backend %s ready: golden self-test passed on %d samples",
                self.backend.name,
                self.self_test_samples,
            )
        else:
            logger.error("backend %s not ready: %s", self.backend.name, reason)

    def not_ready_reason(self) -> str | None:
        """None when ready; otherwise why not (re-running a self-test that has not passed)."""
        backend = self.backend
        if backend is None:
            return self._reason
        try:
            backend.check_ready()
        except BackendNotReady as error:
            return error.reason
        if not self.self_test_passed:
            with self._lock:
                if not self.self_test_passed:
                    self._reason = self._run_self_test(backend) or ""
                    self.self_test_passed = not self._reason
            if not self.self_test_passed:
                return self._reason
        return None

    def ready_backend(self) -> Backend:
        """The backend if ready, else an ApiError 503 that says why."""
        reason = self.not_ready_reason()
        if reason is not None or self.backend is None:
            raise ApiError(503, "NOT_READY", f"The service is not ready: {reason}.")
        return self.backend

    def _run_self_test(self, backend: Backend) -> str | None:
        try:
            images, labels = golden_samples()
        except (OSError, KeyError, ValueError) as error:
            return f"cannot read the golden samples: {error}"
        # Through the upload path (PNG bytes, decoder, preprocessing): it gets warm too.
        model_inputs = np.stack(
            [
                to_model_input(decode_image(_png(image), self.settings.max_pixels).gray)[0]
                for image in images
            ]
        )
        try:
            result = backend.predict(model_inputs.astype(np.float32))
        except Exception as error:  # any failure means "not ready", with a reason
            return f"golden self-test failed: {type(error).__name__}: {error}"
        self.model = {"name": result.model_name, "version": result.model_version}
        predicted = np.argmax(result.probabilities, axis=1)
        wrong = np.flatnonzero(predicted != labels)
        self.self_test_samples = len(labels)
        if wrong.size:
            return (
                f"golden self-test failed: {wrong.size} of {len(labels)} samples misclassified "
                f"(indices {wrong.tolist()})"
            )
        return None


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def init_app(app: Flask, settings: Settings) -> Readiness:
    """Build the backend and warm it up (before the first request)."""
    readiness = Readiness(settings)
    app.extensions["readiness"] = readiness
    readiness.start()
    return readiness


def current_readiness() -> Readiness:
    return current_app.extensions["readiness"]

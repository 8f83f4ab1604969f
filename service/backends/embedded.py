"""The embedded backend: the NumPy Fashion-MNIST model committed in service/model/."""

from __future__ import annotations

import numpy as np

from service.backends import BackendNotReady, BackendResult
from service.config import Settings
from service.model import Classifier, load_classifier


class EmbeddedBackend:
    """Runs the classifier in the serving process; ready as soon as its weights are loaded."""

    name = "embedded"

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def predict(self, images: np.ndarray, deadline: float | None = None) -> BackendResult:
        # A forward pass takes about a millisecond: it never outlives a deadline worth having.
        probabilities = self.classifier.predict_proba(images)
        return BackendResult(
            probabilities=probabilities,
            model_name=self.classifier.name,
            model_version=self.classifier.version,
        )

    def check_ready(self) -> None:
        """Always ready: build() loaded the weights, and nothing here can go stale."""


def build(settings: Settings) -> EmbeddedBackend:
    """Load the weights (settings.model_path, else the committed file)."""
    try:
        classifier = load_classifier(settings.model_path)
    except (OSError, ValueError, KeyError) as error:
        where = settings.model_path or "the committed weights"
        raise BackendNotReady(f"cannot load the model from {where}: {error}") from error
    return EmbeddedBackend(classifier)

"""The README's example answer of `POST /predict` names the model the service actually serves."""

from __future__ import annotations

import re

from service_helpers import REPO_ROOT

from service.model import load_classifier


def test_the_readme_example_names_the_committed_model_version() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r'"model": \{"name": "([^"]+)", "version": "([^"]+)"\}', readme)
    classifier = load_classifier(None)

    assert examples, "the README lost its example answer"
    assert set(examples) == {(classifier.name, classifier.version)}

"""The model card: `python -m service.model.evaluate` on the committed weights reproduces it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.model import MODEL_DIR, load_classifier
from service.model.dataset import DEFAULT_DATA_DIR, resolve_data_dir
from service.model.evaluate import average_precision, compute_metrics

REPO_ROOT = Path(__file__).resolve().parents[3]
COMMITTED_CARD = json.loads((MODEL_DIR / "card.json").read_text(encoding="utf-8"))
ACCURACY_TARGET, MACRO_AP_TARGET = 0.93, 0.975


def run_evaluate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # One BLAS thread: as fast as more on a batch job, and never stalls on a busy machine.
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "service.model.evaluate", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def fresh_card(tmp_path_factory) -> dict:
    if not (resolve_data_dir() / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    out_dir = tmp_path_factory.mktemp("card")
    result = run_evaluate("--out-dir", str(out_dir))
    assert result.returncode == 0, result.stderr
    assert "macro average precision" in result.stdout
    assert (out_dir / "card.md").read_text(encoding="utf-8").startswith("# Model card")
    return json.loads((out_dir / "card.json").read_text(encoding="utf-8"))


def test_the_committed_card_meets_the_targets():
    metrics = COMMITTED_CARD["metrics"]
    assert metrics["images"] == 10000
    assert metrics["accuracy"] >= ACCURACY_TARGET
    assert metrics["macro_average_precision"] >= MACRO_AP_TARGET


def test_the_committed_card_describes_the_committed_weights():
    classifier = load_classifier()
    assert COMMITTED_CARD["version"] == classifier.version
    assert COMMITTED_CARD["parameters"] == classifier.parameter_count


def test_evaluating_the_committed_weights_reproduces_the_card(fresh_card):
    # Equal up to float rounding across BLAS kernels: at most a few borderline images differ.
    expected, actual = COMMITTED_CARD["metrics"], fresh_card["metrics"]
    assert fresh_card["version"] == COMMITTED_CARD["version"]
    assert actual["accuracy"] == pytest.approx(expected["accuracy"], abs=3e-4)
    assert actual["macro_average_precision"] == pytest.approx(
        expected["macro_average_precision"], abs=1e-4
    )
    difference = np.abs(np.array(actual["confusion_matrix"]) - expected["confusion_matrix"])
    assert difference.sum() <= 6
    for name, row in expected["per_class"].items():
        assert actual["per_class"][name]["recall"] == pytest.approx(row["recall"], abs=3e-3)


def test_evaluate_without_the_data_set_names_the_package_to_install(tmp_path):
    result = run_evaluate("--out-dir", str(tmp_path), FASHION_MNIST_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "apt-get install dataset-fashion-mnist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "card.json").exists()


def test_evaluate_with_an_unreadable_weights_file_says_so(tmp_path):
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"not an npz")
    result = run_evaluate("--weights", str(weights), f"--data-dir={DEFAULT_DATA_DIR}")
    assert result.returncode == 2
    assert str(weights) in result.stderr and "Traceback" not in result.stderr


def test_average_precision_matches_scikit_learns_documented_example():
    # sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.8333...
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert average_precision(scores, np.array([0, 0, 1, 1])) == pytest.approx(0.83333, abs=1e-5)


def test_average_precision_treats_tied_scores_as_one_threshold():
    # All tied: one threshold where precision is the positive rate and recall is 1.
    assert average_precision(np.full(4, 0.5), np.array([1, 0, 0, 0])) == pytest.approx(0.25)


def test_metrics_of_a_perfect_classifier():
    labels = np.arange(10).repeat(3)
    metrics = compute_metrics(np.eye(10, dtype=np.float32)[labels], labels)
    assert metrics["accuracy"] == 1.0 and metrics["macro_average_precision"] == 1.0
    assert np.trace(np.array(metrics["confusion_matrix"])) == 30

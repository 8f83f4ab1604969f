"""Evaluate the weights on the official Fashion-MNIST test set and write the model card.

    python -m service.model.evaluate [--weights service/model/weights.npz] [--data-dir DIR]
                                     [--out-dir DIR]

Prints accuracy, macro average precision (one-vs-rest AP averaged over the 10 classes, as
scikit-learn's average_precision_score computes it), per-class precision and recall and the
confusion matrix; writes card.json and card.md next to the weights (or to --out-dir). NumPy only.
The output depends only on the weights and the data, so re-running it rewrites the same card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from service.labels import CLASS_NAMES
from service.model import DEFAULT_WEIGHTS_PATH, WeightsFormatError, load_classifier
from service.model.dataset import DatasetFormatError, DatasetMissingError, load_split

NUM_CLASSES = len(CLASS_NAMES)


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP = sum over score thresholds of (recall step) x precision, ties grouped (sklearn's)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positives = scores[order], positives[order]
    # The last index of each run of equal scores: one threshold per distinct score.
    thresholds = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(positives)[thresholds]
    precision = true_positives / (thresholds + 1)
    recall = true_positives / max(true_positives[-1], 1)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts (true class, predicted class)."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def compute_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro AP, per-class precision / recall / AP and the confusion matrix."""
    labels = labels.astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted)
    per_class = {}
    for class_id, name in enumerate(CLASS_NAMES):
        hits = matrix[class_id, class_id]
        per_class[name] = {
            "precision": round(float(hits / max(matrix[:, class_id].sum(), 1)), 4),
            "recall": round(float(hits / max(matrix[class_id].sum(), 1)), 4),
            "average_precision": round(
                average_precision(probabilities[:, class_id], labels == class_id), 5
            ),
        }
    aps = [average_precision(probabilities[:, c], labels == c) for c in range(NUM_CLASSES)]
    return {
        "images": len(labels),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "macro_average_precision": round(float(np.mean(aps)), 5),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def build_card(classifier: Any, weights_path: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """The model card: identity, architecture, how it was trained, test-set metrics."""
    return {
        "model": classifier.name,
        "version": classifier.version,
        "weights_file": weights_path.name,
        "weights_bytes": weights_path.stat().st_size,
        "parameters": classifier.parameter_count,
        "architecture": classifier.metadata.get("architecture"),
        "training": classifier.metadata.get("training"),
        "test_set": "Fashion-MNIST official test split (t10k, 10,000 images)",
        "class_names": list(CLASS_NAMES),
        "metrics": metrics,
    }


def render_markdown(card: dict[str, Any]) -> str:
    """A short human-readable card."""
    metrics = card["metrics"]
    training = card.get("training") or {}
    lines = [
        f"# Model card: {card['model']} ({card['version']})",
        "",
        f"- Weights: `{card['weights_file']}`, {card['weights_bytes'] / 1e6:.2f} MB, "
        f"{card['parameters']:,} parameters; NumPy inference, BatchNorm folded.",
        f"- Architecture: {_describe_architecture(card['architecture'] or {})}",
        f"- Training: {_describe_training(training)}",
        f"- Test set: {card['test_set']}",
        "",
        f"**Accuracy {metrics['accuracy']:.2%}**, "
        f"**macro average precision {metrics['macro_average_precision']:.4f}** "
        "(one-vs-rest AP averaged over the 10 classes).",
        "",
        "| class | precision | recall | AP |",
        "|---|---|---|---|",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} "
            f"| {row['average_precision']:.4f} |"
        )
    lines += ["", "Confusion matrix (rows: true class, columns: predicted):", "", "```"]
    lines += _confusion_lines(metrics["confusion_matrix"])
    lines += ["```", "", "Regenerate with `nox -s evaluate` (`python -m service.model.evaluate`)."]
    return "\n".join(lines) + "\n"


def _describe_architecture(architecture: dict[str, Any]) -> str:
    layers = [
        f"conv3x3 {channels} + BN + ReLU" + (" + maxpool2" if pool else "")
        for channels, pool in architecture.get("conv_layers", [])
    ]
    layers += [f"dense {width} + ReLU" for width in architecture.get("dense_hidden", [])]
    return " → ".join([*layers, "dense 10 → softmax"])


def _describe_training(training: dict[str, Any]) -> str:
    if not training:
        return "unknown"
    return (
        f"{training['epochs']} epochs, batch {training['batch_size']}, "
        f"{training['optimizer']} (peak lr {training['max_lr']}), "
        f"weight decay {training['weight_decay']}, label smoothing {training['label_smoothing']}, "
        f"augmentation: {training['augmentation']}; seed {training['seed']}, "
        f"{training['threads']} CPU threads, {training['seconds'] / 60:.0f} min, "
        f"torch {training['torch']}"
    )


def _confusion_lines(matrix: list[list[int]]) -> list[str]:
    short = [name[:7] for name in CLASS_NAMES]
    header = " " * 12 + "".join(f"{name:>8}" for name in short)
    rows = [
        f"{name:>12}" + "".join(f"{n:>8}" for n in row)
        for name, row in zip(CLASS_NAMES, matrix, strict=True)
    ]
    return [header, *rows]


def report(metrics: dict[str, Any]) -> str:
    """What the command prints."""
    lines = [
        f"test images: {metrics['images']}",
        f"accuracy: {metrics['accuracy']:.4f}",
        f"macro average precision: {metrics['macro_average_precision']:.5f}",
        "",
        f"{'class':>12} {'precision':>10} {'recall':>8} {'AP':>8}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"{name:>12} {row['precision']:>10.4f} {row['recall']:>8.4f} "
            f"{row['average_precision']:>8.4f}"
        )
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines += _confusion_lines(metrics["confusion_matrix"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_PATH)
    parser.add_argument("--data-dir", type=Path, default=None, help="idx files directory")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: next to --weights")
    args = parser.parse_args(argv)
    try:
        classifier = load_classifier(args.weights)
        images, labels = load_split("test", args.data_dir)
    except (DatasetMissingError, DatasetFormatError, WeightsFormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"error: {args.weights}: cannot load weights ({error})", file=sys.stderr)
        return 2
    probabilities = classifier.predict_proba(images.astype(np.float32) / 255.0)
    metrics = compute_metrics(probabilities, labels)
    print(report(metrics))
    card = build_card(classifier, args.weights, metrics)
    out_dir = args.out_dir or args.weights.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out_dir / "card.md").write_text(render_markdown(card), encoding="utf-8")
    print(f"\nwrote {out_dir / 'card.json'} and {out_dir / 'card.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

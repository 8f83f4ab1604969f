"""Write the load test's sample images: official Fashion-MNIST test images as PNG, with labels.

    python -m loadtest.samples.make_samples [--per-class 15] [--min-confidence 0.9]

Reads the test split from /usr/share/datasets/fashion-mnist (or $FASHION_MNIST_DIR; Debian
package `dataset-fashion-mnist`) and writes loadtest/samples/images/t10k-NNNNN.png plus
labels.json. A load test counts a wrong label on a known image as a failure, so the samples must
be images a correct service labels correctly: for each class, in test-set order, the first
images that the committed model (service/model/weights.npz) labels right with at least
--min-confidence. The model's ordinary mistakes on hard images are the model card's business;
here a wrong label means the service broke (preprocessing, polarity, weights), not that the
model met a hard image. The PNGs are the test images unchanged (28x28, 8-bit gray, light
garment on black), a few hundred bytes each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from service.labels import CLASS_NAMES
from service.model import load_classifier
from service.model.dataset import DatasetMissingError, load_split

SAMPLES_DIR = Path(__file__).resolve().parent


def select(
    images: np.ndarray, labels: np.ndarray, per_class: int, min_confidence: float
) -> list[int]:
    """Test-set indices: per class, the first `per_class` the model gets right confidently."""
    probabilities = load_classifier().predict_proba(images.astype(np.float32) / 255.0)
    predicted = probabilities.argmax(axis=1)
    confident = probabilities.max(axis=1) >= min_confidence
    chosen: list[int] = []
    for class_id in range(len(CLASS_NAMES)):
        eligible = np.flatnonzero((labels == class_id) & (predicted == class_id) & confident)
        if len(eligible) < per_class:
            raise SystemExit(
                f"only {len(eligible)} test images of class {CLASS_NAMES[class_id]!r} are "
                f"labelled right with confidence >= {min_confidence}; lower --min-confidence"
            )
        chosen.extend(int(index) for index in eligible[:per_class])
    return sorted(chosen)


def write(images: np.ndarray, labels: np.ndarray, indices: list[int], out: Path) -> None:
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for stale in image_dir.glob("*.png"):
        stale.unlink()
    entries = []
    for index in indices:
        name = f"t10k-{index:05d}.png"
        Image.fromarray(images[index], mode="L").save(image_dir / name, optimize=True)
        class_id = int(labels[index])
        entries.append(
            {
                "file": name,
                "test_index": index,
                "class_id": class_id,
                "label": CLASS_NAMES[class_id],
            }
        )
    document = {
        "source": "Fashion-MNIST official test set (t10k-images-idx3-ubyte), images unchanged",
        "license": "MIT (zalandoresearch/fashion-mnist)",
        "generated_by": "python -m loadtest.samples.make_samples",
        "model_version": load_classifier().version,
        "images": entries,
    }
    (out / "labels.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=15, help="images per class (15)")
    parser.add_argument(
        "--min-confidence", type=float, default=0.9, help="model confidence to require (0.9)"
    )
    parser.add_argument("--data-dir", type=Path, help="directory of the idx .gz files")
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR, help="where to write")
    args = parser.parse_args(argv)
    try:
        images, labels = load_split("test", args.data_dir)
    except DatasetMissingError as error:
        print(error, file=sys.stderr)
        return 1
    indices = select(images, labels, args.per_class, args.min_confidence)
    write(images, labels, indices, args.out)
    print(f"wrote {len(indices)} images and labels.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

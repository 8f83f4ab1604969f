"""Train the Fashion-MNIST CNN with PyTorch on the CPU and export NumPy weights.

    python -m service.model.train [--epochs 50] [--seed 0] [--data-dir DIR] [--out weights.npz]

Deterministic: fixed seeds, `torch.use_deterministic_algorithms(True)`, a fixed thread count and
in-process batching, so the same command on the same machine writes the same weights. The export
folds each BatchNorm into its convolution, checks the NumPy forward against PyTorch's, and picks
the golden samples (one official test image per class, classified correctly and confidently) used
by the service's readiness self-test.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from service.model import DEFAULT_WEIGHTS_PATH, GOLDEN_PATH, network_from_arrays
from service.model.dataset import DatasetMissingError, load_split

# (out_channels, max-pool after) per 3x3 convolution, then the hidden dense widths. Sized so the
# NumPy forward stays well under 0.5 ms per image and 10 ms per batch of 64 on one core.
CONV_LAYERS: tuple[tuple[int, bool], ...] = ((24, True), (32, True), (128, True))
DENSE_HIDDEN: tuple[int, ...] = (256,)
NUM_CLASSES = 10
# Confident enough that a correct model never drifts under it (label smoothing would cap it lower).
GOLDEN_MIN_CONFIDENCE = 0.95


class FashionCNN(nn.Module):
    """Conv-BN-ReLU(-MaxPool) blocks, flattened in NHWC order (as the NumPy network), then MLP."""

    def __init__(
        self,
        conv_layers: tuple[tuple[int, bool], ...] = CONV_LAYERS,
        dense_hidden: tuple[int, ...] = DENSE_HIDDEN,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels, side = 1, 28
        for out_channels, pool in conv_layers:
            blocks += [
                nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if pool:
                blocks.append(nn.MaxPool2d(2))
                side //= 2
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        dense: list[nn.Module] = []
        width = side * side * channels
        for hidden in dense_hidden:
            dense += [nn.Dropout(dropout), nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        dense += [nn.Dropout(dropout), nn.Linear(width, NUM_CLASSES)]
        self.classifier = nn.Sequential(*dense)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for float images (N, 1, 28, 28) in [0, 1]."""
        features = self.features(images)
        return self.classifier(features.permute(0, 2, 3, 1).flatten(1))


def augment(
    images: torch.Tensor, generator: torch.Generator, shift: int = 2, erase_prob: float = 0.0
) -> torch.Tensor:
    """Random horizontal flip, shift by up to `shift` px (zero fill), random erasing (off by
    default: this small network underfits with it, 92.7% test accuracy with p=0.5)."""
    count, _, height, width = images.shape
    flip = torch.rand(count, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    padded = nn.functional.pad(images, (shift, shift, shift, shift))
    offset_y = torch.randint(0, 2 * shift + 1, (count,), generator=generator)
    offset_x = torch.randint(0, 2 * shift + 1, (count,), generator=generator)
    rows = (offset_y[:, None] + torch.arange(height))[:, :, None]
    cols = (offset_x[:, None] + torch.arange(width))[:, None, :]
    images = padded[torch.arange(count)[:, None, None], 0, rows, cols][:, None]
    if erase_prob > 0:
        images = images * ~_erasing_mask(count, height, width, erase_prob, generator)[:, None]
    return images


def _erasing_mask(
    count: int, height: int, width: int, probability: float, generator: torch.Generator
) -> torch.Tensor:
    """Boolean (N, H, W): for a `probability` share of images, a rectangle of 2-20% of the area."""
    area = torch.empty(count).uniform_(0.02, 0.2, generator=generator) * height * width
    log_ratio = torch.empty(count).uniform_(math.log(0.3), math.log(3.3), generator=generator)
    ratio = torch.exp(log_ratio)
    box_h = torch.sqrt(area * ratio).round().clamp(1, height).long()
    box_w = torch.sqrt(area / ratio).round().clamp(1, width).long()
    top = (torch.rand(count, generator=generator) * (height - box_h + 1)).long()
    left = (torch.rand(count, generator=generator) * (width - box_w + 1)).long()
    active = torch.rand(count, generator=generator) < probability
    ys, xs = torch.arange(height)[None, :], torch.arange(width)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < (top + box_h)[:, None])
    in_cols = (xs >= left[:, None]) & (xs < (left + box_w)[:, None])
    return active[:, None, None] & in_rows[:, :, None] & in_cols[:, None, :]


def channels_last(images: torch.Tensor) -> torch.Tensor:
    """NHWC memory layout: oneDNN's convolutions take half the CPU time they need in NCHW."""
    return images.contiguous(memory_format=torch.channels_last)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) to float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]


def make_optimizer(
    model: nn.Module, epochs: int, steps_per_epoch: int, max_lr: float, weight_decay: float
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and a one-cycle schedule; no weight decay on BN and biases."""
    decayed = [p for p in model.parameters() if p.ndim > 1]
    not_decayed = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decayed, "weight_decay": weight_decay}, {"params": not_decayed}],
        lr=max_lr,
        momentum=0.9,
        nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.25
    )
    return optimizer, scheduler


def train_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    batch_size: int,
    label_smoothing: float,
    erase_prob: float = 0.0,
) -> tuple[float, float]:
    """One pass over shuffled, augmented batches; returns mean loss and accuracy."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    order = torch.randperm(len(images), generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch, target = (
            channels_last(augment(images[index], generator, erase_prob=erase_prob)),
            labels[index],
        )
        logits = model(batch)
        loss = loss_fn(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(index)
        correct += int((logits.argmax(1) == target).sum())
    return total_loss / len(order), correct / len(order)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Eval-mode logits for every image."""
    model.eval()
    batches = range(0, len(images), batch_size)
    return torch.cat([model(channels_last(images[i : i + batch_size])) for i in batches])


@torch.no_grad()
def export_arrays(model: FashionCNN) -> dict[str, np.ndarray]:
    """NumPy arrays for service.model: BN folded into conv weights, (kh, kw, cin) row order."""
    arrays: dict[str, np.ndarray] = {}
    modules = list(model.features)
    conv_index = 0
    for position, module in enumerate(modules):
        if not isinstance(module, nn.Conv2d):
            continue
        norm = modules[position + 1]
        if not isinstance(norm, nn.BatchNorm2d):
            raise TypeError(f"expected BatchNorm2d after {module}, found {norm}")
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        weight = module.weight * scale[:, None, None, None]  # (out, in, kh, kw)
        bias = norm.bias - norm.running_mean * scale
        pool = position + 3 < len(modules) and isinstance(modules[position + 3], nn.MaxPool2d)
        prefix = f"conv{conv_index}"
        arrays[f"{prefix}.weight"] = weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).numpy()
        arrays[f"{prefix}.bias"] = bias.numpy()
        arrays[f"{prefix}.pool"] = np.array(pool)
        conv_index += 1
    linears = [module for module in model.classifier if isinstance(module, nn.Linear)]
    for index, linear in enumerate(linears):
        arrays[f"dense{index}.weight"] = linear.weight.T.contiguous().numpy()
        arrays[f"dense{index}.bias"] = linear.bias.numpy()
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in arrays.items()}


def choose_golden(
    probabilities: np.ndarray, labels: np.ndarray, min_confidence: float = GOLDEN_MIN_CONFIDENCE
) -> np.ndarray:
    """Per class, the first test index classified correctly with at least `min_confidence`
    (failing that, the most confident correct one: only a barely trained model gets there)."""
    chosen = []
    predicted = probabilities.argmax(axis=1)
    for class_id in range(NUM_CLASSES):
        correct = (labels == class_id) & (predicted == class_id)
        confidence = np.where(correct, probabilities[:, class_id], -1.0)
        confident = np.flatnonzero(confidence >= min_confidence)
        chosen.append(confident[0] if len(confident) else int(confidence.argmax()))
    return np.array(chosen)


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed .npz atomically (no pickles)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=50, help="passes over the training set")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for init, shuffling, augmentation"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="idx files directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_PATH, help="weights .npz")
    parser.add_argument("--golden-out", type=Path, default=GOLDEN_PATH, help="golden .npz")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=0.1, help="one-cycle peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--erase-prob", type=float, default=0.0, help="random erasing rate")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (1: on a shared 2-core machine, 2 threads spend more CPU "
        "waiting on each other than they save)",
    )
    parser.add_argument(
        "--holdout", type=int, default=0, help="keep the last N training images out, report on them"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.threads < 1 or args.holdout < 0:
        parser.error("--epochs, --batch-size and --threads must be >= 1, --holdout >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    try:
        train_images, train_labels = load_split("train", args.data_dir)
        test_images, test_labels = load_split("test", args.data_dir)
    except DatasetMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    images, labels = to_tensor(train_images), torch.from_numpy(train_labels.astype(np.int64))
    held_images, held_labels = (
        images[len(images) - args.holdout :],
        labels[len(images) - args.holdout :],
    )
    images, labels = images[: len(images) - args.holdout], labels[: len(labels) - args.holdout]

    generator = torch.Generator().manual_seed(args.seed)
    model = FashionCNN().to(memory_format=torch.channels_last)
    steps = math.ceil(len(images) / args.batch_size)
    optimizer, scheduler = make_optimizer(model, args.epochs, steps, args.max_lr, args.weight_decay)
    started = time.monotonic()
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.monotonic()
        loss, accuracy = train_epoch(
            model,
            images,
            labels,
            optimizer,
            scheduler,
            generator,
            args.batch_size,
            args.label_smoothing,
            args.erase_prob,
        )
        report = f"epoch {epoch:3d}/{args.epochs} loss {loss:.4f} train acc {accuracy:.4f}"
        if args.holdout:
            held = predict_logits(model, held_images).argmax(1)
            report += f" holdout acc {float((held == held_labels).float().mean()):.4f}"
        print(f"{report} ({time.monotonic() - epoch_start:.0f} s)", flush=True)
    training_seconds = time.monotonic() - started

    arrays = export_arrays(model)
    network = network_from_arrays(arrays)
    test_tensor = to_tensor(test_images)
    torch_probs = torch.softmax(predict_logits(model, test_tensor), 1).numpy()
    numpy_probs = network.predict_proba(test_images.astype(np.float32) / 255.0)
    difference = float(np.abs(torch_probs - numpy_probs).max())
    print(f"NumPy vs PyTorch max |probability difference| on the test set: {difference:.2e}")
    if difference > 1e-4:
        print("error: the exported NumPy network disagrees with PyTorch", file=sys.stderr)
        return 1
    metadata = {
        "architecture": {"conv_layers": CONV_LAYERS, "dense_hidden": DENSE_HIDDEN},
        "training": {
            "epochs": args.epochs,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "max_lr": args.max_lr,
            "weight_decay": args.weight_decay,
            "label_smoothing": args.label_smoothing,
            "holdout": args.holdout,
            "threads": args.threads,
            "seconds": round(training_seconds),
            "torch": torch.__version__,
            "augmentation": f"hflip, shift <= 2 px, random erasing p={args.erase_prob}",
            "optimizer": "SGD nesterov momentum 0.9, one-cycle",
        },
    }
    arrays["metadata"] = np.array(json.dumps(metadata))
    save_npz(args.out, arrays)
    golden = choose_golden(numpy_probs, test_labels)
    save_npz(
        args.golden_out,
        {"images": test_images[golden], "labels": test_labels[golden], "test_index": golden},
    )
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {parameters} parameters) "
        f"and {args.golden_out}; training took {training_seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

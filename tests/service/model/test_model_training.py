"""The PyTorch side: the NumPy forward equals PyTorch's, and a training step runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install '.[train]'")

from service.model import golden_samples, network_from_arrays, weights_version  # noqa: E402
from service.model import train as training  # noqa: E402


def randomized_model(seed: int) -> training.FashionCNN:
    """The real architecture with non-trivial BatchNorm statistics, so folding is exercised."""
    torch.manual_seed(seed)
    model = training.FashionCNN()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(
                -1.5, 1.5
            )  # negative scales too: pooling must still commute
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def fixed_batch() -> np.ndarray:
    golden, _ = golden_samples()
    noise = np.random.default_rng(3).random((22, 28, 28), dtype=np.float32)
    return np.concatenate([golden.astype(np.float32) / 255.0, noise])


def test_the_numpy_forward_equals_the_pytorch_forward_on_a_fixed_batch():
    model = randomized_model(seed=11)
    images = fixed_batch()
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images)[:, None]), dim=1).numpy()
    actual = network_from_arrays(training.export_arrays(model)).predict_proba(images)
    np.testing.assert_allclose(actual, expected, atol=2e-5)


def test_augmentation_keeps_shape_and_range_and_is_reproducible():
    images = torch.from_numpy(fixed_batch())[:, None]
    first = training.augment(images, torch.Generator().manual_seed(5))
    again = training.augment(images, torch.Generator().manual_seed(5))
    assert first.shape == images.shape
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, images)


def test_one_training_epoch_on_64_images_lowers_nothing_to_nan_and_exports():
    torch.manual_seed(0)
    model = training.FashionCNN()
    golden, labels = golden_samples()
    images = training.to_tensor(np.resize(golden, (64, 28, 28)))
    targets = torch.from_numpy(np.resize(labels, 64).astype(np.int64))
    optimizer, scheduler = training.make_optimizer(model, 1, 2, max_lr=0.05, weight_decay=5e-4)
    loss, accuracy = training.train_epoch(
        model, images, targets, optimizer, scheduler, torch.Generator().manual_seed(0), 32, 0.05
    )
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    network = network_from_arrays(training.export_arrays(model.eval()))
    probabilities = network.predict_proba(golden.astype(np.float32) / 255.0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_training_is_deterministic_for_a_given_seed():
    def one_epoch_weights() -> dict[str, np.ndarray]:
        torch.manual_seed(0)
        model = training.FashionCNN()
        golden, labels = golden_samples()
        images = training.to_tensor(np.resize(golden, (32, 28, 28)))
        targets = torch.from_numpy(np.resize(labels, 32).astype(np.int64))
        optimizer, scheduler = training.make_optimizer(model, 1, 2, 0.05, 5e-4)
        generator = torch.Generator().manual_seed(0)
        training.train_epoch(model, images, targets, optimizer, scheduler, generator, 16, 0.05)
        return training.export_arrays(model.eval())

    first, second = one_epoch_weights(), one_epoch_weights()
    assert weights_version(first) == weights_version(second)
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_golden_choice_takes_confident_correct_images_one_per_class():
    labels = np.arange(10).repeat(2)
    probabilities = np.full((20, 10), 0.01, dtype=np.float32)
    probabilities[np.arange(20), labels] = np.tile([0.5, 0.95], 10)
    chosen = training.choose_golden(probabilities, labels)
    assert chosen.tolist() == list(range(1, 20, 2))


def test_training_without_the_data_set_exits_with_the_package_name(tmp_path, capsys):
    assert training.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "w.npz")]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err

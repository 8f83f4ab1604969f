"""The CNN's forward pass in NumPy alone (the service never imports PyTorch).

Layout is NHWC. Each 3x3 convolution (stride 1, zero padding 1) is one im2col copy built from
nine shifted slices (36 when pooled) plus matrix products. When a 2x2 max-pool follows, the
im2col rows are ordered by their position inside the pooling window (4 blocks, one per
position), so pooling is `np.maximum` over 4 contiguous result blocks instead of a strided
reduction, and each block's matrix product is small enough to stay in cache (for one image, a
single product over the 4 blocks: fewer calls). Bias and ReLU come after the pooling: both
commute with max, and the array is then 4x smaller.

BatchNorm does not appear here: the exporter folds it into the convolution weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Big batches run in chunks: a chunk's intermediate arrays stay in the core's cache, which makes
# a batch of 64 about 15% faster than one pass over all 64 images.
CHUNK_IMAGES = 16
# Up to this many output rows (after pooling), a pooled convolution is one matrix product.
_ONE_PRODUCT_ROWS = 256
_TAPS = tuple((kh, kw) for kh in range(3) for kw in range(3))
_POOL_POSITIONS = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclass(frozen=True)
class ConvLayer:
    """3x3 convolution, weight (9 * in_channels, out_channels) in (kh, kw, cin) row order."""

    weight: np.ndarray
    bias: np.ndarray
    pool: bool


@dataclass(frozen=True)
class DenseLayer:
    """Fully connected layer, weight (in_features, out_features)."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class Network:
    """Convolutions (each followed by ReLU, some by a 2x2 max-pool), then dense layers."""

    convs: tuple[ConvLayer, ...]
    dense: tuple[DenseLayer, ...]

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Class scores for float32 images (N, 28, 28) in [0, 1]."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        if len(images) == 0:
            return np.zeros((0, self.dense[-1].weight.shape[1]), dtype=np.float32)
        if len(images) <= CHUNK_IMAGES:
            return self._chunk_logits(images)
        chunks = range(0, len(images), CHUNK_IMAGES)
        return np.concatenate([self._chunk_logits(images[i : i + CHUNK_IMAGES]) for i in chunks])

    def _chunk_logits(self, images: np.ndarray) -> np.ndarray:
        x = images[..., np.newaxis]
        for conv in self.convs:
            x = _conv_relu(x, conv)
        x = x.reshape(x.shape[0], -1)
        for index, layer in enumerate(self.dense):
            x = x @ layer.weight
            x += layer.bias
            if index < len(self.dense) - 1:
                np.maximum(x, 0.0, out=x)
        return x

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, 10), float32, rows sum to 1."""
        return softmax(self.logits(images))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _conv_relu(x: np.ndarray, conv: ConvLayer) -> np.ndarray:
    """ReLU(conv(x)), max-pooled 2x2 (floor, like torch.nn.MaxPool2d(2)) when conv.pool."""
    batch, height, width, channels = x.shape
    # Zero padding 1: a zeroed buffer and one copy (np.pad costs more in Python than in copying).
    padded = np.zeros((batch, height + 2, width + 2, channels), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = x
    if conv.pool:
        out_h, out_w = height // 2, width // 2
        rows = batch * out_h * out_w
        if rows <= _ONE_PRODUCT_ROWS:
            # Small inputs (one image): fewer, larger copies and one matrix product.
            cols = _pooled_im2col_by_transpose(padded, out_h, out_w)
            products = (cols.reshape(4 * rows, -1) @ conv.weight).reshape(4, rows, -1)
            out = np.maximum(np.maximum(products[0], products[1]), products[2])
            np.maximum(out, products[3], out=out)
        else:
            cols = _pooled_im2col(padded, out_h, out_w).reshape(4, rows, 9 * channels)
            out = cols[0] @ conv.weight
            for block in cols[1:]:
                np.maximum(out, block @ conv.weight, out=out)
    else:
        out_h, out_w = height, width
        cols = np.empty((batch, out_h, out_w, 9, channels), dtype=np.float32)
        for kh, kw in _TAPS:
            cols[..., kh * 3 + kw, :] = padded[:, kh : kh + out_h, kw : kw + out_w]
        out = cols.reshape(batch * out_h * out_w, -1) @ conv.weight
    out += conv.bias
    np.maximum(out, 0.0, out=out)
    return out.reshape(batch, out_h, out_w, -1)


def _pooled_im2col(padded: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """im2col rows in 4 blocks, one per position (dy, dx) in the 2x2 pooling window:
    (2, 2, N, out_h, out_w, 9, C), columns in (kh, kw, cin) order like the weights. Built with
    36 strided slice copies (one per block and tap): a few microseconds each whatever the batch,
    where a patch-by-patch gather (sliding_window_view + transpose) costs far more on 1 channel."""
    batch, channels = padded.shape[0], padded.shape[3]
    cols = np.empty((2, 2, batch, out_h, out_w, 9, channels), dtype=np.float32)
    for dy, dx in _POOL_POSITIONS:
        block = cols[dy, dx]
        for kh, kw in _TAPS:
            top, left = dy + kh, dx + kw
            block[..., kh * 3 + kw, :] = padded[
                :, top : top + 2 * out_h : 2, left : left + 2 * out_w : 2
            ]
    return cols


def _pooled_im2col_by_transpose(padded: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The same array as `_pooled_im2col`, from 9 shifted copies and one transposing copy:
    for one image, half the time of 36 small copies; for a batch, the transpose is far slower."""
    batch, channels = padded.shape[0], padded.shape[3]
    full = np.empty((batch, 2 * out_h, 2 * out_w, 9, channels), dtype=np.float32)
    for kh, kw in _TAPS:
        full[..., kh * 3 + kw, :] = padded[:, kh : kh + 2 * out_h, kw : kw + 2 * out_w]
    split = full.reshape(batch, out_h, 2, out_w, 2, 9, channels)
    return np.ascontiguousarray(split.transpose(2, 4, 0, 1, 3, 5, 6))

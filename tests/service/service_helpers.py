"""Helpers for the service tests: images in every format and product-photo lookalikes (the
service under a real Gunicorn is `tests.gunicorn_process`)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]


def encode(image: Image.Image | np.ndarray, image_format: str, **save_options: object) -> bytes:
    """The bytes of `image` saved in `image_format` (PNG, JPEG, ...)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, image_format, **save_options)
    return buffer.getvalue()


def product_photo(
    garment: np.ndarray, scale: int, canvas_size: tuple[int, int], offset: tuple[int, int]
) -> bytes:
    """A Fashion-MNIST image made to look like a product photo: dark garment on white,
    upscaled `scale` times, placed at `offset` on a larger white canvas, an RGB JPEG."""
    side = garment.shape[0] * scale
    upscaled = Image.fromarray(255 - garment).resize((side, side), Image.Resampling.BICUBIC)
    canvas = Image.new("L", canvas_size, 255)
    canvas.paste(upscaled, offset)
    return encode(canvas.convert("RGB"), "JPEG", quality=90)


def class_ids(body: dict) -> list[int]:
    """The predicted class ids of a /predict response body, in order."""
    return [prediction["class_id"] for prediction in body["predictions"]]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header that declares width x height, with (almost) no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    descriptor = b"," + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
    return screen + descriptor + b"\x08\x02\x4c\x01\x00;"

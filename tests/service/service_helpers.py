"""Helpers for the service tests: images in every format, product-photo lookalikes, and the
service under a real Gunicorn."""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


@dataclass
class RunningServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_gunicorn(
    log_path: Path, workers: int = 2, environment: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """`gunicorn -c service/gunicorn.conf.py "service:create_app()"` on a free loopback port,
    with `environment` on top of this process's; ready (GET /ready answers 200) on entry,
    stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "THREADS": "4",
        "PYTHONPATH": str(REPO_ROOT),
        **(environment or {}),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "service:create_app()"]
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = RunningServer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        wait_until_ready(server, timeout=60)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            if requests.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn not ready within {timeout} s:\n{server.log_text()}")

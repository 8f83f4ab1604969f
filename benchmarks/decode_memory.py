"""Peak memory of decoding one large image, per Pillow mode, each in a fresh process.

    python -m benchmarks.decode_memory [--size 4096] [--json reports/decode_memory.json]

For every sample (LA, palette with transparency, progressive CMYK JPEG, 16-bit, RGBA, ...) a
child process imports the service, reads the file, resets its peak RSS (`/proc/self/clear_refs`)
and runs `decode_image` once: "decode" is the peak RSS above the RSS just before it, so
Pillow's, libjpeg's and NumPy's allocations are all counted (tracemalloc sees none of Pillow's).
"reserved" is what admission reserves for the same image before decoding it
(service/decode_memory.py, through `decode_cost_of`): it must stay above "decode". "then 28x28"
is the peak of the step after (`to_model_input` on the reduced gray image), which runs outside
the reservation. The last column says whether the default DECODE_MEMORY_MB admits the image
(the child measures with an unlimited budget either way). A benchmark, not a test: it prints
figures, it never fails on them.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

MIB = 2**20
REPO_ROOT = Path(__file__).resolve().parents[1]


def _garment(size: int, background: int = 255, ink: int = 40) -> Image.Image:
    """A dark ellipse (a garment, roughly) with a lighter band, on a light background: 8-bit."""
    image = Image.new("L", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 5, size // 8, size * 4 // 5, size * 7 // 8), fill=ink)
    draw.rectangle((size // 3, size // 2, size * 2 // 3, size // 2 + size // 16), fill=120)
    return image


def _cut_out(size: int) -> tuple[Image.Image, Image.Image]:
    """The garment's gray levels and an alpha mask that is opaque on the garment only."""
    gray = _garment(size)
    alpha = gray.point(lambda value: 0 if value == 255 else 255)
    return gray, alpha


def _la_png(size: int) -> Image.Image:
    gray, alpha = _cut_out(size)
    return Image.merge("LA", [gray, alpha])


def _rgba_png(size: int) -> Image.Image:
    gray, alpha = _cut_out(size)
    red = gray.point(lambda value: min(255, value + 60))
    return Image.merge("RGBA", [red, gray, gray, alpha])


def _palette_png(size: int) -> Image.Image:
    """Palette image whose background index is transparent (tRNS with one entry)."""
    indexed = _garment(size, background=0, ink=1).point(lambda value: min(value, 2))
    indexed = indexed.convert("P")  # indices 0, 1, 2
    indexed.putpalette([255, 255, 255, 30, 30, 30, 120, 120, 120])
    indexed.info["transparency"] = 0
    return indexed


def _sixteen_bit(size: int) -> Image.Image:
    import numpy as np

    return Image.fromarray(np.asarray(_garment(size), dtype=np.uint16) * 257)  # I;16


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    if "transparency" in image.info:
        options.setdefault("transparency", image.info["transparency"])
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


# name -> (build the image at a size, format, save options)
SAMPLES: dict[str, Callable[[int], bytes]] = {
    "LA PNG": lambda size: _encode(_la_png(size), "PNG"),
    "P PNG with transparency": lambda size: _encode(_palette_png(size), "PNG"),
    "CMYK progressive JPEG": lambda size: _encode(
        _garment(size).convert("CMYK"), "JPEG", quality=90, progressive=True
    ),
    "16-bit PNG": lambda size: _encode(_sixteen_bit(size), "PNG"),
    "RGBA PNG": lambda size: _encode(_rgba_png(size), "PNG"),
    "RGB PNG": lambda size: _encode(_garment(size).convert("RGB"), "PNG"),
    "L PNG": lambda size: _encode(_garment(size), "PNG"),
    "1-bit PNG": lambda size: _encode(_garment(size).convert("1"), "PNG"),
    "RGB JPEG": lambda size: _encode(_garment(size).convert("RGB"), "JPEG", quality=90),
    "RGB progressive JPEG": lambda size: _encode(
        _garment(size).convert("RGB"), "JPEG", quality=90, progressive=True
    ),
    "CMYK JPEG": lambda size: _encode(_garment(size).convert("CMYK"), "JPEG", quality=90),
    "CMYK TIFF (deflate)": lambda size: _encode(
        _garment(size).convert("CMYK"), "TIFF", compression="tiff_adobe_deflate"
    ),
    "RGBA WebP (lossless)": lambda size: _encode(_rgba_png(size), "WEBP", lossless=True),
    "RGB WebP (lossy)": lambda size: _encode(_garment(size).convert("RGB"), "WEBP", quality=80),
    "GIF with transparency": lambda size: _encode(_palette_png(size), "GIF"),
    "L PNG with tRNS": lambda size: _encode(_garment(size), "PNG", transparency=255),
}


def sample_bytes(name: str, size: int = 4096) -> bytes:
    """The encoded bytes of one sample at `size` x `size` pixels."""
    return SAMPLES[name](size)


# The image modes of the container's memory drill (tests/container/test_container_memory.py)
# and of the decode burst (decode_burst.py).
DRILL_MODES = ("LA PNG", "P PNG with transparency", "CMYK progressive JPEG", "16-bit PNG")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> int:
    """Reset this process's peak RSS (VmHWM) to its current RSS; that RSS in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _rss_kib("VmRSS")


def measure_one(path: Path) -> dict[str, float]:
    """In this (fresh) process: peak RSS of one decode above the RSS before it, in MiB."""
    from service import admission
    from service.config import DEFAULT_MAX_PIXELS, Settings
    from service.preprocess import (
        decode_cost_of,
        decode_image,
        raise_pillow_limit_to,
        to_model_input,
    )

    raise_pillow_limit_to(DEFAULT_MAX_PIXELS)
    admitted = admission.configure(Settings()).budget.capacity
    admission.configure(Settings(decode_memory_mb=2**20))  # measure what the default refuses
    data = path.read_bytes()
    cost = decode_cost_of(data, DEFAULT_MAX_PIXELS)
    before, started = _reset_peak(), time.perf_counter()
    decoded = decode_image(data, DEFAULT_MAX_PIXELS)
    seconds = time.perf_counter() - started
    decode_peak = _rss_kib("VmHWM") - before
    before = _reset_peak()
    to_model_input(decoded.gray)
    preprocess_peak = _rss_kib("VmHWM") - before
    return {
        "peak_mib": decode_peak / 1024,
        "preprocess_peak_mib": preprocess_peak / 1024,
        "reserved_mib": cost / MIB,
        "ms": seconds * 1000,
        "file_kib": len(data) / 1024,
        "mode": decoded.report["mode"],
        "admitted": cost <= admitted,
    }


def measure_all(size: int, names: list[str]) -> list[dict[str, object]]:
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for name in names:
            path = Path(directory) / "sample"
            path.write_bytes(sample_bytes(name, size))
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.decode_memory", "--child", str(path)],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
                cwd=REPO_ROOT,
            )
            if child.returncode != 0:
                raise RuntimeError(f"{name}: the measuring process failed:\n{child.stderr}")
            results.append({"sample": name, "size": size, **json.loads(child.stdout)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="side of every sample (pixels)")
    parser.add_argument("--sample", action="append", choices=sorted(SAMPLES), help="only these")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(args.child)))
        return 0
    results = measure_all(args.size, args.sample or list(SAMPLES))
    print(f"{args.size}x{args.size} images; peak RSS above the RSS before the decode, in MiB")
    print(
        f"{'sample':<26}{'mode':<7}{'file KiB':>9}{'decode':>8}{'reserved':>9}{'then 28x28':>11}"
        f"{'ms':>6}  at the default DECODE_MEMORY_MB"
    )
    for row in results:
        print(
            f"{row['sample']:<26}{row['mode']:<7}{row['file_kib']:>9.0f}{row['peak_mib']:>8.1f}"
            f"{row['reserved_mib']:>9.1f}{row['preprocess_peak_mib']:>11.1f}{row['ms']:>6.0f}"
            f"  {'decoded' if row['admitted'] else '413 IMAGE_TOO_LARGE'}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

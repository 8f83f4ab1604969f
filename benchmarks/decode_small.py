"""`decode_image` of a 28x28 gray PNG (the common upload) next to plain Pillow, in one process.

    python -m benchmarks.decode_small [--rounds 7] [--number 2000]

Plain Pillow is the floor: open, load, NumPy array. The difference is what the service adds
(format and size checks, the multi-frame check, the EXIF lookup when the file has EXIF, the
reduction and conversion steps a 28x28 gray image skips). The two are timed alternately, the
best round of each kept, so that a busy neighbour on a shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import io
import timeit

import numpy as np
from PIL import Image

from service.config import DEFAULT_MAX_PIXELS
from service.model import golden_samples
from service.preprocess import decode_image


def _plain_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image, dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000, help="calls per round")
    args = parser.parse_args(argv)
    images, _ = golden_samples()
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, "PNG")
    data = buffer.getvalue()
    candidates = {
        "decode_image": lambda: decode_image(data, DEFAULT_MAX_PIXELS),
        "plain Pillow": lambda: _plain_pillow(data),
    }
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(args.rounds):
        for name, call in candidates.items():
            seconds = timeit.timeit(call, number=args.number) / args.number
            best[name] = min(best[name], seconds)
    for name, seconds in best.items():
        print(f"{name:<14}{seconds * 1e6:8.1f} us")
    print(f"ratio         {best['decode_image'] / best['plain Pillow']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

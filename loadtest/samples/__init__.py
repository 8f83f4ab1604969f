"""The load test's known images: official Fashion-MNIST test PNGs with their labels.

Committed (a few tens of KB) so that a run against staging needs no data set; regenerate them
with `python -m loadtest.samples.make_samples` (see that module for how they are chosen).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sample:
    file: str
    label: str
    class_id: int
    png: bytes = field(repr=False)

    @cached_property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @cached_property
    def pixels(self) -> list[list[int]]:
        """28 rows of 28 gray values (0-255), for the JSON `pixels` form."""
        from PIL import Image  # Pillow comes with the serve extra, installed by nox -s loadtest

        with Image.open(io.BytesIO(self.png)) as image:
            gray = image.convert("L")
            width, height = gray.size
            raw = gray.tobytes()
        return [list(raw[row * width : (row + 1) * width]) for row in range(height)]


def load_samples(directory: Path = SAMPLES_DIR) -> tuple[Sample, ...]:
    """Every sample listed in labels.json, with its PNG bytes."""
    document = json.loads((directory / "labels.json").read_text(encoding="utf-8"))
    return tuple(
        Sample(
            file=entry["file"],
            label=entry["label"],
            class_id=int(entry["class_id"]),
            png=(directory / "images" / entry["file"]).read_bytes(),
        )
        for entry in document["images"]
    )

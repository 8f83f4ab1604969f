"""Image size, for the default image (serve + vertex extras) and the slim one (serve only).

Targets, for the whole image with a slim Python base (~125 MB): 450 MB with the Vertex AI
client, 300 MB without. Sizes are uncompressed, in decimal MB, as `docker images` shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import requests
from container_engine import BuiltImage, Engine, RunningService
from container_project import REPORTS
from container_samples import golden_pngs

DEFAULT_IMAGE_TARGET_BYTES = 450_000_000
SLIM_IMAGE_TARGET_BYTES = 300_000_000
SLIM_EXTRAS = "serve"


def record_size(engine: Engine, image: BuiltImage, report_line: Callable[[str], None]) -> int:
    """The image's size in bytes; printed with its base's, and written to reports/container/."""
    size, base = engine.image_size(image.tag), engine.image_size(image.base_image)
    report_line(
        f"image EXTRAS={image.extras}: {size / 1e6:.0f} MB, {(size - base) / 1e6:.0f} MB above "
        f"its base {image.base_image} ({base / 1e6:.0f} MB)"
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    sizes_file = REPORTS / "image-sizes.json"
    try:
        sizes = json.loads(sizes_file.read_text())
    except (OSError, ValueError):
        sizes = {}
    sizes[image.extras] = {"bytes": size, "base_image": image.base_image, "base_bytes": base}
    sizes_file.write_text(json.dumps(sizes, indent=2) + "\n")
    return size


def test_the_default_image_is_within_its_size_target(
    engine: Engine, default_image: BuiltImage, report_line: Callable[[str], None]
) -> None:
    size = record_size(engine, default_image, report_line)

    assert size <= DEFAULT_IMAGE_TARGET_BYTES, f"{size / 1e6:.0f} MB"


def test_the_slim_image_serves_without_the_vertex_client_within_its_target(
    engine: Engine,
    build_image: Callable[[str], BuiltImage],
    start_container: Callable[..., RunningService],
    report_line: Callable[[str], None],
) -> None:
    slim = build_image(SLIM_EXTRAS)
    service = start_container(slim.tag)
    png, label = golden_pngs()[3]

    answer = requests.post(
        f"{service.base_url}/predict", data=png, headers={"Content-Type": "image/png"}, timeout=10
    )
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"
    has_vertex = engine.exec(
        service.container, "python3", "-c", probe, "google.cloud.aiplatform_v1"
    )
    size = record_size(engine, slim, report_line)

    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["class_id"] == label
    assert has_vertex.returncode == 1, "google-cloud-aiplatform is in the slim image"
    assert size <= SLIM_IMAGE_TARGET_BYTES, f"{size / 1e6:.0f} MB"

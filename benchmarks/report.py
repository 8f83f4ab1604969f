"""The benchmark report: the machine it ran on, the container image's size, and the table."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np

from benchmarks.inference import machine_info

IMAGE_REPOSITORY = "localhost/prediction-service"  # what `nox -s container` builds


def machine() -> dict[str, Any]:
    info = machine_info()
    info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except (KeyError, TypeError):
        info["numpy_blas"] = "unknown"
    return info


def container_engine() -> str | None:
    """docker when its daemon answers, else podman, as `nox -s container` chooses."""
    docker = shutil.which("docker")
    if docker and _runs([docker, "info"]):
        return docker
    return shutil.which("podman")


def _runs(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_sizes(tag: str | None = None) -> dict[str, Any]:
    """Size of the service image(s): `tag`, or every tag of IMAGE_REPOSITORY present."""
    engine = container_engine()
    if engine is None:
        return {"size_mb": None, "note": "n/a (no engine)"}
    tags = [tag] if tag else _local_tags(engine)
    if not tags:
        return {
            "size_mb": None,
            "note": f"n/a (no {IMAGE_REPOSITORY} image; CONTAINER_KEEP_IMAGES=1 nox -s container)",
        }
    sizes = {}
    for name in tags:
        inspect = [engine, "image", "inspect", "--format", "{{.Size}}", name]
        finished = subprocess.run(inspect, capture_output=True, text=True, timeout=60)
        if finished.returncode == 0 and finished.stdout.strip().isdigit():
            sizes[name] = round(int(finished.stdout.strip()) / 1e6, 1)
    return {
        "engine": os.path.basename(engine),
        "images_mb": sizes,
        "size_mb": min(sizes.values()) if sizes else None,
        "note": "" if sizes else f"n/a ({os.path.basename(engine)} could not inspect {tags})",
    }


def _local_tags(engine: str) -> list[str]:
    listing = [engine, "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPOSITORY]
    try:
        finished = subprocess.run(listing, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in finished.stdout.split() if line.startswith(IMAGE_REPOSITORY)]


def _row(name: str, value: str, target: str = "", met: bool | None = None) -> str:
    verdict = {True: "ok", False: "MISSED", None: ""}[met]
    return f"{name:<46}{value:>22}  {target:<14}{verdict}"


def render_table(figures: dict[str, Any]) -> str:
    targets = figures["targets"]
    lines = [_row("figure", "value", "target"), "-" * 90]
    for case in figures["inference"]:
        lines.append(_row(f"inference, {case['case']} (median)", f"{case['median_ms']:.3f} ms"))
    for name in ("minimal", "predict"):
        app = figures["end_to_end"][name]
        best = app["max_sustainable"]
        lines.append(
            _row(
                f"POST /predict {name}: max sustainable rate",
                f"{best['achieved_rate']:.0f} req/s" if best else "none",
            )
        )
        half = app["half_rate"]
        if half:
            latency = half["latency"]
            lines.append(
                _row(
                    f"  at half ({half['target_rate']:.0f}/s): p50 / p99",
                    f"{latency['p50_ms']:.2f} / {latency['p99_ms']:.2f} ms",
                    "p99 <= 25 ms" if name == "predict" else "",
                    targets["p99_at_half_rate"] if name == "predict" else None,
                )
            )
            lines.append(
                _row(
                    "  server CPU per request",
                    f"{half['server_cpu_ms_per_request']:.3f} ms",
                )
            )
    ratio = figures["end_to_end"]["ratio_predict_to_minimal"]
    lines.append(
        _row(
            "throughput ratio predict / minimal",
            f"{ratio:.2f}" if ratio is not None else "n/a",
            ">= 0.4",
            targets["throughput_ratio"],
        )
    )
    cpu_ratio = figures["end_to_end"]["cpu_ratio_minimal_to_predict"]
    if cpu_ratio is not None:
        lines.append(_row("  (by server CPU per request)", f"{cpu_ratio:.2f}"))
    cold = figures["cold_start_s"]
    lines.append(
        _row(
            "cold start to first prediction (median, max)",
            f"{cold['median']:.2f}, {cold['max']:.2f} s",
            "<= 1.5 s",
            targets["cold_start"],
        )
    )
    rss = figures["worker_rss_mb_max"]
    lines.append(
        _row("resident memory per worker (max)", f"{rss:.1f} MB", "<= 100 MB", targets["rss"])
    )
    image = figures["image"]
    size = f"{image['size_mb']:.0f} MB" if image.get("size_mb") else image.get("note", "n/a")
    lines.append(_row("container image size", size))
    return "\n".join(lines)

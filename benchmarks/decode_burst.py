"""A worker's memory through a burst of large decodes, and after it: malloc tuned or not.

    python -m benchmarks.decode_burst [--size 4096] [--threads 4] [--images 40]

Each variant runs in a fresh process: `--threads` threads (a gthread worker's) decode
`--images` images of the four modes of the memory drill (LA PNG, palette PNG with
transparency, progressive CMYK JPEG, 16-bit PNG) through `decode_image` and `to_model_input`,
under the default decode budget. Printed: RSS before (after a warm-up), peak, right after the
burst and 5 s later, and how many requests the full budget answered 503. "glibc defaults"
leaves malloc alone (the budget still applies); "tuned" is what `admission.init_app` does
(fixed mmap threshold, two arenas, malloc_trim after a busy spell).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

from benchmarks.decode_memory import DRILL_MODES, REPO_ROOT, _reset_peak, _rss_kib, sample_bytes


def _rss_mib(field: str = "VmRSS") -> float:
    return _rss_kib(field) / 1024


def run_burst(size: int, threads: int, images: int, tuned: bool) -> dict[str, float]:
    """In this (fresh) process: the burst, and RSS figures in MiB."""
    from service import admission
    from service.config import DEFAULT_MAX_PIXELS, Settings
    from service.errors import ApiError
    from service.preprocess import decode_image, raise_pillow_limit_to, to_model_input

    raise_pillow_limit_to(DEFAULT_MAX_PIXELS)
    if tuned:
        admission.configure(Settings())
    bodies = [sample_bytes(name, size) for name in DRILL_MODES]
    for name in DRILL_MODES:  # warm-up: every decoder and code path loaded once
        to_model_input(decode_image(sample_bytes(name, 64), DEFAULT_MAX_PIXELS).gray)
    baseline = _rss_mib()
    _reset_peak()
    refused = [0]
    lock = threading.Lock()
    queue = list(range(images))

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            try:
                to_model_input(decode_image(bodies[index % len(bodies)], DEFAULT_MAX_PIXELS).gray)
            except ApiError:
                with lock:
                    refused[0] += 1

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.monotonic() - started
    right_after = _rss_mib()
    time.sleep(5)
    return {
        "baseline_mib": baseline,
        "peak_mib": _rss_mib("VmHWM"),
        "after_mib": right_after,
        "after_5s_mib": _rss_mib(),
        "refused": refused[0],
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--child", choices=["tuned", "defaults"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = run_burst(args.size, args.threads, args.images, args.child == "tuned")
        print(json.dumps(figures))
        return 0
    print(f"{args.images} images of {args.size}x{args.size} ({', '.join(DRILL_MODES)}),")
    print(f"{args.threads} threads; RSS in MiB")
    print(f"{'malloc':<16}{'before':>8}{'peak':>8}{'after':>8}{'5 s later':>11}{'503s':>6}{'s':>6}")
    for variant, label in (("defaults", "glibc defaults"), ("tuned", "tuned")):
        command = [sys.executable, "-m", "benchmarks.decode_burst", "--child", variant]
        command += ["--size", str(args.size), "--threads", str(args.threads)]
        command += ["--images", str(args.images)]
        child = subprocess.run(
            command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT
        )
        if child.returncode != 0:
            raise RuntimeError(f"{label}: the measuring process failed:\n{child.stderr}")
        row = json.loads(child.stdout)
        print(
            f"{label:<16}{row['baseline_mib']:>8.0f}{row['peak_mib']:>8.0f}"
            f"{row['after_mib']:>8.0f}{row['after_5s_mib']:>11.0f}{row['refused']:>6}"
            f"{row['seconds']:>6.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

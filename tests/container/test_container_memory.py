"""Under Cloud Run's 512 MiB, one worker takes 80 concurrent 4096x4096 images in the modes that
cost most to decode, answers every one, is never killed, and gives the memory back.

The container runs with `--memory 512m` (no swap) and WEB_CONCURRENCY=1, as the README deploys
it. Each of the 80 requests is a 4096x4096 image in one of four modes (LA PNG, palette PNG with
transparency, progressive CMYK JPEG, 16-bit PNG): before the decode budget, four palette PNGs of
2 KB got the worker OOM-killed. Every request must be answered: a prediction, or 503 OVERLOADED
with Retry-After when the budget stayed full. Then the worker's RSS is polled until it is back
within 50 MB of its baseline, for at most a minute; the figures go to the run's summary.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from container_engine import BuiltImage, RunningService
from container_samples import golden_pngs

from benchmarks.decode_memory import DRILL_MODES, sample_bytes

MEMORY_LIMIT = "512m"
CONCURRENT = 80
SIDE = 4096
MODES = DRILL_MODES
CONTENT_TYPES = {"CMYK progressive JPEG": "image/jpeg"}
BASELINE_TOLERANCE_MB = 50
RETURN_WITHIN_SECONDS = 60

# Run inside the container: the Gunicorn workers (children of PID 1, the master) with their
# RSS and peak RSS, and the cgroup's OOM-kill count (cgroup v2, else v1).
_PROBE = """
import json, os
workers = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open(f"/proc/{pid}/status").read()
        command = open(f"/proc/{pid}/cmdline").read()
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields["PPid"].strip() == "1" and "gunicorn" in command:
        kib = lambda name: int(fields[name].split()[0])
        workers.append({"pid": int(pid), "rss_kib": kib("VmRSS"), "hwm_kib": kib("VmHWM")})
oom_kills = None
for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
    try:
        for line in open(path):
            if line.startswith("oom_kill "):
                oom_kills = int(line.split()[1])
    except OSError:
        pass
print(json.dumps({"workers": workers, "oom_kills": oom_kills}))
"""


def probe(service: RunningService) -> dict:
    result = service.engine.exec(service.container, "python3", "-c", _PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def the_worker(service: RunningService) -> dict:
    workers = probe(service)["workers"]
    assert len(workers) == 1, workers
    return workers[0]


def post(base_url: str, mode: str, body: bytes) -> tuple[str, requests.Response]:
    content_type = CONTENT_TYPES.get(mode, "image/png")
    answer = requests.post(
        f"{base_url}/predict", data=body, headers={"Content-Type": content_type}, timeout=180
    )
    return mode, answer


@pytest.fixture(scope="module")
def limited_service(
    default_image: BuiltImage, start_container: Callable[..., RunningService]
) -> RunningService:
    return start_container(
        default_image.tag,
        {"WEB_CONCURRENCY": "1"},
        run_options=("--memory", MEMORY_LIMIT, "--memory-swap", MEMORY_LIMIT),
    )


def test_80_concurrent_large_images_under_512_mib(
    limited_service: RunningService, report_line: Callable[[str], None]
) -> None:
    base_url = limited_service.base_url
    for mode in MODES:  # warm-up: every decoder loaded once, as after a few real requests
        _, answer = post(base_url, mode, sample_bytes(mode, 64))
        assert answer.status_code == 200, answer.text
    baseline = the_worker(limited_service)
    oom_kills_before = probe(limited_service)["oom_kills"]
    bodies = {mode: sample_bytes(mode, SIDE) for mode in MODES}

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        futures = [
            pool.submit(post, base_url, MODES[i % len(MODES)], bodies[MODES[i % len(MODES)]])
            for i in range(CONCURRENT)
        ]
        answers = [future.result() for future in futures]  # a connection error fails here
    burst_seconds = time.monotonic() - started

    outcomes: Counter[tuple[str, int]] = Counter()
    for mode, answer in answers:
        outcomes[mode, answer.status_code] += 1
        assert answer.status_code in (200, 503), (mode, answer.status_code, answer.text)
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "OVERLOADED"
            assert int(answer.headers["Retry-After"]) >= 1
        else:
            assert answer.json()["predictions"][0]["preprocessing"]["source_size"] == [SIDE] * 2
    for mode in MODES:
        assert outcomes[mode, 200] >= 1, f"no {mode} was decoded: {dict(outcomes)}"

    after = the_worker(limited_service)
    assert after["pid"] == baseline["pid"], "the worker was replaced (killed?)"
    stdout, _ = limited_service.logs()
    assert stdout.count('"message": "Booting worker with pid') == 1
    if oom_kills_before is not None:
        assert probe(limited_service)["oom_kills"] == oom_kills_before

    # Memory returns: poll until the worker's RSS is back near its baseline (at most a minute).
    limit_kib = baseline["rss_kib"] + BASELINE_TOLERANCE_MB * 1000 * 1000 // 1024
    deadline = time.monotonic() + RETURN_WITHIN_SECONDS
    while after["rss_kib"] > limit_kib and time.monotonic() < deadline:
        time.sleep(2)
        after = the_worker(limited_service)
    returned_after = RETURN_WITHIN_SECONDS - max(0.0, deadline - time.monotonic())
    report_line(
        f"memory drill: {CONCURRENT} concurrent {SIDE}x{SIDE} images under --memory "
        f"{MEMORY_LIMIT}, answered in {burst_seconds:.0f} s: "
        + ", ".join(
            f"{mode} {status}: {count}" for (mode, status), count in sorted(outcomes.items())
        )
        + f"; worker RSS {baseline['rss_kib'] / 1024:.0f} MiB before, peak "
        f"{after['hwm_kib'] / 1024:.0f} MiB, {after['rss_kib'] / 1024:.0f} MiB "
        f"{returned_after:.0f} s after"
    )
    assert after["rss_kib"] <= limit_kib, (baseline, after)

    # And the worker still answers correctly.
    png, label = golden_pngs()[0]
    answer = requests.post(
        f"{base_url}/predict", data=png, headers={"Content-Type": "image/png"}, timeout=30
    )
    assert answer.status_code == 200 and answer.json()["predictions"][0]["class_id"] == label

"""Where a prediction's CPU time goes under load: py-spy samples the Gunicorn workers (only
threads holding the GIL, so waiting threads do not count) during a fixed-rate run, and the
samples are summed by the stage of the request they fall in.

    python -m benchmarks --profile      (needs py-spy: pip install -c constraints.txt py-spy)

A stage's share is the fraction of samples whose stack contains that stage's frame; stages nest
(the view contains inference), so shares do not add up to 100%.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

# stage -> a substring of py-spy's "function (file:line)" frame that marks it; None marks the
# samples that match no other stage (whatever the worker class: gevent's hub, gthread's loop).
STAGES: dict[str, str | None] = {
    "Flask app (all of it)": "wsgi_app (flask/app.py",
    "  predict view": "predict (service/predict.py",
    "    inference (service/model)": "service/model/",
    "    decode_image": "decode_image (service/preprocess.py",
    "    to_model_input": "to_model_input (service/preprocess.py",
    "    parse_instances": "parse_instances (service/request_parsing.py",
    "    jsonify the answer (orjson)": "jsonify (flask/json",
    "  request log line (service/request_log.py)": "log_request (service/request_log.py",
    "  Server-Timing (service/timing.py)": "service/timing.py",
    "Gunicorn: parse the request": "gunicorn/http/message.py",
    "Gunicorn: write the response": "write (gunicorn/http/wsgi.py",
    "Gunicorn: access log atoms (unused)": "access (gunicorn/glogging.py",
    "Gunicorn: outside any stage (accept, keep-alive, the loop)": None,
}

OUTSIDE = next(stage for stage, marker in STAGES.items() if marker is None)


def py_spy() -> str | None:
    return shutil.which("py-spy")


def start(master_pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Start sampling the master's workers for `seconds`; returns the py-spy process."""
    command = [py_spy() or "py-spy", "record", "--pid", str(master_pid), "--subprocesses"]
    command += ["--gil", "--nonblocking", "--rate", "1000", "--duration", str(int(seconds))]
    command += ["--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def breakdown(raw: Path) -> dict[str, Any]:
    """Shares of the samples by stage, from py-spy's raw (collapsed stacks) output."""
    samples = 0
    by_stage: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples += int(count)
        matched = False
        for stage, marker in STAGES.items():
            if marker is not None and marker in stack:
                by_stage[stage] += int(count)
                matched = True
        if not matched:
            by_stage[OUTSIDE] += int(count)
    shares = {stage: round(100 * by_stage[stage] / max(1, samples), 1) for stage in STAGES}
    return {"samples_holding_the_gil": samples, "share_percent": shares}


def render(profile: dict[str, Any]) -> str:
    lines = [f"where predict's CPU goes ({profile['samples_holding_the_gil']} samples, GIL held)"]
    lines += [f"  {stage:<40}{share:>6.1f}%" for stage, share in profile["share_percent"].items()]
    return "\n".join(lines)

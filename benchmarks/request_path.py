"""CPU per request inside the app: the WSGI callable driven in-process, no HTTP server.

    python -m benchmarks.request_path [--requests 5000] [--repeats 5]

Sends the same `POST /predict` (a 28x28 PNG from the golden samples) straight to the Flask
app's WSGI callable and reports the median process CPU time per request over a few repeats:
what the service's own code (parsing, decoding, inference, log line, response) costs, without
Gunicorn or the load generator. The request log goes to a discarding stream, so its full cost
(building and serialising the line) is counted but no terminal is. Use it to measure one change
of the request path against another on the same machine; `python -m benchmarks --peers`
measures the whole stack.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from typing import Any

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # as service/gunicorn.conf.py does


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def png_body() -> bytes:
    from PIL import Image

    from service.model import golden_samples

    images, _ = golden_samples()
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, "PNG")
    return buffer.getvalue()


def environ_for(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "image/png",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "request-path-bench",
        "HTTP_X_CLOUD_TRACE_CONTEXT": "105445aa7843bc8bf206b12000100000/1;o=1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def measure(requests: int, repeats: int) -> dict[str, Any]:
    from service import Settings, create_app

    app = create_app(Settings(), log_stream=_Discard())
    body = png_body()
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        statuses.append(status)

    def one() -> None:
        chunks = app.wsgi_app(environ_for(body), start_response)
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()

    for _ in range(200):  # warm-up: caches, lazy imports
        one()
    per_request_us = []
    for _ in range(repeats):
        statuses.clear()
        started = time.process_time()
        for _ in range(requests):
            one()
        elapsed = time.process_time() - started
        if set(statuses) != {"200 OK"}:
            raise SystemExit(f"unexpected answers: {sorted(set(statuses))}")
        per_request_us.append(elapsed * 1e6 / requests)
    return {
        "requests_per_repeat": requests,
        "cpu_us_per_request": [round(value, 1) for value in per_request_us],
        "median_cpu_us_per_request": round(statistics.median(per_request_us), 1),
        # The least disturbed repeat: on a shared machine, the closest to the code's own cost.
        "min_cpu_us_per_request": round(min(per_request_us), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (the median is kept)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.requests, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

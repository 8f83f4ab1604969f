"""The service under real Gunicorn (service/gunicorn.conf.py) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import runpy
import signal
import time
from pathlib import Path

import requests
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker
from service_helpers import REPO_ROOT, class_ids, encode, gif_declaring

from service.server.rejections import RejectionsMixin
from tests.gunicorn_process import GunicornProcess, running_gunicorn

CONFIG = REPO_ROOT / "service" / "gunicorn.conf.py"


def test_ready_and_a_prediction(gunicorn_server: GunicornProcess, golden) -> None:
    images, labels = golden
    base = gunicorn_server.base_url

    assert requests.get(f"{base}/", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{base}/ready", timeout=5).json()["status"] == "ready"
    response = requests.post(
        f"{base}/predict",
        data=encode(images[7], "PNG"),
        headers={"Content-Type": "image/png"},
        timeout=5,
    )
    assert response.status_code == 200
    assert class_ids(response.json()) == [labels[7]]
    assert "infer;dur=" in response.headers["Server-Timing"]


def test_bad_inputs_leave_the_workers_serving(gunicorn_server: GunicornProcess, golden) -> None:
    images, labels = golden
    base = gunicorn_server.base_url
    bad_requests = [
        (b"[" * 200_000 + b"]" * 200_000, "application/json", 400),
        (encode(images[0], "PNG")[:100], "image/png", 400),
        (gif_declaring(65535, 65535), "image/gif", 413),
        (b"\x00" * 100, "text/plain", 415),
    ]
    for _ in range(3):  # enough rounds to reach both workers
        for body, content_type, status in bad_requests:
            response = requests.post(
                f"{base}/predict", data=body, headers={"Content-Type": content_type}, timeout=10
            )
            assert response.status_code == status
            assert "error" in response.json()
    for image, label in zip(images, labels, strict=True):
        response = requests.post(
            f"{base}/predict",
            data=encode(image, "PNG"),
            headers={"Content-Type": "image/png"},
            timeout=5,
        )
        assert class_ids(response.json()) == [label]


def test_every_line_gunicorn_and_the_app_print_is_json(gunicorn_server: GunicornProcess) -> None:
    requests.post(
        f"{gunicorn_server.base_url}/predict",
        data=b'{"instances": []}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer hunter2-token"},
        timeout=5,
    )
    time.sleep(0.2)  # let the worker flush its line
    lines = [line for line in gunicorn_server.log_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # fails on any plain-text line

    messages = [entry.get("message", "") for entry in entries]
    # Gunicorn's own lines are JSON too: at least one "Booting worker" per worker (a starved
    # machine can see a worker booted again, which is not what this test is about).
    assert sum(message.startswith("Booting worker") for message in messages) >= 2
    assert messages.count("POST /predict 422") == 1  # the app's line; no access-log line
    assert "hunter2-token" not in gunicorn_server.log_text()


def test_config_builds_no_access_log_entries() -> None:
    config = runpy.run_path(str(CONFIG))
    logger_class = config["logger_class"]
    logger = logger_class.__new__(logger_class)  # no cfg: access() must not need one

    assert logger.access_log_enabled is False
    assert logger.access(resp=None, req=None, environ={}, request_time=None) is None
    assert config["max_requests"] >= 100000  # recycling a busy worker every ~20 s cost time


def test_config_binds_port_on_every_interface_and_fits_cloud_run(monkeypatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.delenv("THREADS", raising=False)
    config = runpy.run_path(str(CONFIG))

    assert config["bind"] == ["0.0.0.0:9123"]
    assert config["workers"] == 3
    # the service's gevent worker, with its answers to requests Gunicorn's parser rejects
    worker_class = util.load_class(config["worker_class"])
    assert issubclass(worker_class, GeventWorker) and issubclass(worker_class, RejectionsMixin)
    assert config["threads"] == 4
    assert config["graceful_timeout"] < 10  # Cloud Run's SIGTERM-to-SIGKILL grace
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_config_refuses_a_bad_port(monkeypatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    try:
        runpy.run_path(str(CONFIG))
    except ValueError as error:
        assert "PORT" in str(error)
    else:
        raise AssertionError("PORT=eighty was accepted")


def test_sigterm_stops_gunicorn_gracefully_within_cloud_runs_grace(tmp_path: Path) -> None:
    with running_gunicorn(tmp_path / "stdout.log", workers=1) as server:
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10

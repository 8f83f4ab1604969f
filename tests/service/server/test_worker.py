"""How Gunicorn runs the app (service/server/): the worker model, its sizing from the
environment, and the import order that keeps HTTPS working under gevent."""

from __future__ import annotations

import runpy
import subprocess
import sys

import pytest

from service.config import ConfigError
from service.server.sizing import Sizing
from service.server.worker import SPARE_FDS, raise_fd_limit
from tests.gunicorn_process import GUNICORN_CONF, REPO_ROOT


def test_the_default_worker_is_gevent_with_reuse_port_and_room_for_idle_connections(monkeypatch):
    for name in ("WORKER_CLASS", "CONCURRENCY", "WORKER_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    config = runpy.run_path(str(GUNICORN_CONF))

    assert config["worker_class"] == "service.server.worker.Worker"
    assert config["reuse_port"] is True  # each worker its own socket: the kernel balances
    assert config["worker_connections"] >= 2000 + 200 + 300  # idle + silent + slow uploads
    assert Sizing.from_env().requests_per_worker == 40  # CONCURRENCY 80 over 2 workers


def test_gthread_stays_selectable_for_the_benchmarks(monkeypatch):
    monkeypatch.setenv("WORKER_CLASS", "gthread")
    monkeypatch.setenv("THREADS", "80")
    config = runpy.run_path(str(GUNICORN_CONF))
    assert config["worker_class"] == "service.server.thread_worker.ThreadWorker"
    assert config["threads"] == 80


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("WORKER_CLASS", "eventlet", "WORKER_CLASS"),
        ("CONCURRENCY", "0", "CONCURRENCY"),
        ("CONCURRENCY", "many", "CONCURRENCY"),
        ("WORKER_CONNECTIONS", "10", "WORKER_CONNECTIONS"),  # below CONCURRENCY per worker
    ],
)
def test_a_bad_sizing_variable_stops_the_start_naming_it(monkeypatch, name, value, named):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        Sizing.from_env()


def test_https_contexts_work_in_a_process_that_loaded_the_config_as_gunicorn_does():
    """urllib3 imported before gevent's patch makes every HTTPS context recurse forever
    (gevent/gevent#1016): the config patches first, before its log handler imports urllib3."""
    script = (
        "import importlib.util, sys\n"
        f"sys.argv = [{str(REPO_ROOT / 'venv' / 'bin' / 'gunicorn')!r}]\n"
        # as gunicorn.util.load_config_from_filename loads it
        f"spec = importlib.util.spec_from_file_location('config', {str(GUNICORN_CONF)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "import logging.config\n"
        "from google.cloud.logging_v2.handlers import StructuredLogHandler\n"
        "from urllib3.util.ssl_ import create_urllib3_context\n"
        "import gevent.monkey\n"
        "assert gevent.monkey.is_module_patched('ssl')\n"
        "print(create_urllib3_context().minimum_version)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MonkeyPatchWarning" not in done.stderr


def test_the_fd_limit_is_raised_to_fit_the_connections_within_the_hard_limit():
    assert raise_fd_limit(1000) >= 1000 + SPARE_FDS

"""Fault drills against the service under real Gunicorn (service/gunicorn.conf.py), on 127.0.0.1:
a deploy's SIGTERM with requests in flight, a worker killed under load, and slow clients.

Each drill starts its own Gunicorn, sends a bounded number of requests and stops by itself.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.drills.http_clients import (
    Answer,
    Trickler,
    golden_png,
    post_in_two_halves,
)
from tests.gunicorn_process import GunicornProcess, running_gunicorn

CLOUD_RUN_GRACE_SECONDS = 10  # SIGTERM, then SIGKILL 10 s later


def class_id(answer: Answer) -> int:
    return json.loads(answer.body)["predictions"][0]["class_id"]


def wait_for_exit(server: GunicornProcess, limit: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        code = server.process.wait(timeout=limit + 5)
    except Exception:
        code = None
    return code, time.monotonic() - started


# --- SIGTERM ----------------------------------------------------------------------------------


def test_sigterm_lets_every_request_in_flight_finish_then_exits_in_time(tmp_path: Path) -> None:
    body, label = golden_png(3)
    clients = 6
    with running_gunicorn(tmp_path / "gunicorn.log", workers=2, threads=4) as server:
        go_on, started = threading.Event(), threading.Barrier(clients + 1)
        with ThreadPoolExecutor(clients) as pool:
            pending = [
                pool.submit(post_in_two_halves, server.port, body, go_on, started, 15)
                for _ in range(clients)
            ]
            started.wait(10)  # every request has its headers and half its body sent
            time.sleep(0.3)  # ...and read by a worker thread
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            time.sleep(0.3)  # the workers have the signal before the bodies end
            go_on.set()
            answers = [future.result() for future in pending]
        code, _ = wait_for_exit(server, CLOUD_RUN_GRACE_SECONDS)
        exited_after = time.monotonic() - signalled

    assert [answer.status for answer in answers] == [200] * clients, answers
    assert [class_id(answer) for answer in answers] == [label] * clients
    assert code == 0, server.log_text()[-3000:]
    assert exited_after < CLOUD_RUN_GRACE_SECONDS


def test_sigterm_exits_within_the_grace_even_when_a_client_never_finishes(tmp_path: Path) -> None:
    with running_gunicorn(tmp_path / "gunicorn.log", workers=1, threads=2) as server:
        stalled = Trickler(server.port, connections=1, interval=60)  # headers, then silence
        try:
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            code, exited_after = wait_for_exit(server, CLOUD_RUN_GRACE_SECONDS)
        finally:
            stalled.stop()

    assert code is not None, "gunicorn still running after the grace period"
    # graceful_timeout (8 s) ends the stalled request, before Cloud Run's SIGKILL would.
    assert exited_after < CLOUD_RUN_GRACE_SECONDS, f"exited after {exited_after:.1f} s"


# --- kill -9 of a worker ----------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None
    error: str | None = None


def post_once(port: int, body: bytes) -> Outcome:
    """One POST /predict on a new connection (so that only requests truly in flight on the
    killed worker can fail, not idle kept-alive connections)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/predict", body, {"Content-Type": "image/png"})
        response = connection.getresponse()
        response.read()
        return Outcome(started, time.monotonic(), response.status)
    except (OSError, http.client.HTTPException) as error:
        return Outcome(started, time.monotonic(), None, f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def wait_until_dead(pid: int, limit: float = 5.0) -> float:
    """When process `pid` stopped running (a zombie or gone: its sockets are closed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.0005)
    return time.monotonic()


def load(port: int, body: bytes, until: float) -> list[Outcome]:
    outcomes = []
    while time.monotonic() < until:
        outcomes.append(post_once(port, body))
    return outcomes


def test_kill_9_of_a_worker_loses_at_most_its_requests_in_flight(tmp_path: Path) -> None:
    body, _ = golden_png(5)
    clients, threads = 4, 4
    with running_gunicorn(tmp_path / "gunicorn.log", workers=2, threads=threads) as server:
        before = server.worker_pids()
        victim = min(before)
        with ThreadPoolExecutor(clients) as pool:
            until = time.monotonic() + 3.0
            loads = [pool.submit(load, server.port, body, until) for _ in range(clients)]
            time.sleep(1.0)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            died_at = wait_until_dead(victim)
            outcomes = [outcome for future in loads for outcome in future.result()]
        replacements = server.wait_for_workers(2, excluding={victim}, timeout=30)
        after = [post_once(server.port, body) for _ in range(20)]

    failures = [outcome for outcome in outcomes if outcome.status != 200]
    print(f"{len(outcomes)} requests, {len(failures)} lost at the kill: {failures}")
    assert len(outcomes) > 50, "the load was too light to mean anything"
    # Only requests in flight while the worker died may fail: started before its sockets were
    # closed, ended after the kill. With reuse_port the victim has its own listening socket:
    # a connection the kernel queued on it between SIGKILL and the end of the process's
    # teardown (a few ms) is reset with it, as in-flight as one it had accepted.
    print(f"the victim took {(died_at - killed_at) * 1000:.1f} ms to die")
    assert all(f.started <= died_at and killed_at <= f.ended for f in failures), failures
    # ...and no more than each client can lose while it dies: one request each, and one more
    # for a client whose retry raced to the dying socket.
    assert len(failures) <= 2 * min(clients, threads), failures
    assert len(replacements - before) == 1 and victim not in replacements
    assert [outcome.status for outcome in after] == [200] * 20


# --- slow clients -----------------------------------------------------------------------------


def test_slow_clients_cannot_hold_every_worker_thread(tmp_path: Path) -> None:
    """With WORKER_CLASS=gthread (kept for comparison): more byte-by-byte uploads than the
    instance has threads: each is cut after SLOW_CLIENT_TIMEOUT seconds of holding a thread,
    and normal requests get through. The gevent worker's case: test_connection_drill.py."""
    timeout, threads, slow = 2, 2, 4
    body, _ = golden_png(7)
    with running_gunicorn(
        tmp_path / "gunicorn.log",
        workers=1,
        threads=threads,
        environment={"SLOW_CLIENT_TIMEOUT": str(timeout), "WORKER_CLASS": "gthread"},
    ) as server:
        trickler = Trickler(server.port, connections=slow, interval=0.2)
        try:
            time.sleep(0.5)  # the slow uploads now hold both threads (and the queue)
            probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
            try:
                probe.request("GET", "/")
                blocked = False
                probe.getresponse().read()
            except TimeoutError:
                blocked = True
            finally:
                probe.close()
            # Threads free up `threads` slow uploads at a time, `timeout` seconds each.
            bound = timeout * -(-slow // threads) + 2.0
            released = trickler.seconds_until_each_is_released(timeout=bound + 3)
            served = post_once(server.port, body)
        finally:
            trickler.stop()

    assert blocked, "the slow clients did not even occupy the worker: the drill proves nothing"
    assert all(seconds is not None and seconds <= bound for seconds in released), released
    assert served.status == 200

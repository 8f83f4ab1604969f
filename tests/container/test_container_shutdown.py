"""SIGTERM with requests in flight: they complete, and the container exits well within 10 s.

Cloud Run sends SIGTERM, then SIGKILL 10 s later. To be sure the requests are in flight when
the signal arrives, each client sends its headers and half of its upload, holds the rest until
after the signal, then finishes: the server is mid-request for all of them, like a slow client.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from container_engine import BuiltImage, RunningService
from container_samples import golden_pngs

CLOUD_RUN_GRACE_SECONDS = 10
IN_FLIGHT_REQUESTS = 6
CUSTOM_PORT = 9000  # also proves the image honours PORT


class HeldUpload:
    """A POST /predict whose body is sent in two halves, the second when `release` is set."""

    def __init__(self, base_url: str, png: bytes, release: threading.Event) -> None:
        self.release = release
        self.png = png
        self.headers_sent = threading.Event()
        self.status: int | None = None
        self.body: dict | None = None
        self.error: BaseException | None = None
        self._address = urlsplit(base_url)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        connection = http.client.HTTPConnection(
            self._address.hostname, self._address.port, timeout=30
        )
        try:
            half = len(self.png) // 2
            connection.putrequest("POST", "/predict")
            connection.putheader("Content-Type", "image/png")
            connection.putheader("Content-Length", str(len(self.png)))
            connection.endheaders(self.png[:half])
            self.headers_sent.set()
            self.release.wait(timeout=20)
            connection.send(self.png[half:])
            response = connection.getresponse()
            self.status = response.status
            self.body = json.loads(response.read())
        except BaseException as error:  # reported by the test, with the others' results
            self.error = error
        finally:
            self.headers_sent.set()
            connection.close()


def test_sigterm_lets_in_flight_requests_finish_and_the_container_exit(
    default_image: BuiltImage,
    start_container: Callable[..., RunningService],
    report_line: Callable[[str], None],
) -> None:
    service = start_container(default_image.tag, {"PORT": str(CUSTOM_PORT)}, port=CUSTOM_PORT)
    png, label = golden_pngs()[0]
    release = threading.Event()
    uploads = [HeldUpload(service.base_url, png, release) for _ in range(IN_FLIGHT_REQUESTS)]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        assert upload.headers_sent.wait(timeout=10)
    time.sleep(0.5)  # the workers accept the connections and start reading the bodies

    stop_started = time.monotonic()
    stopper = threading.Thread(
        target=service.engine.stop, args=(service.container, CLOUD_RUN_GRACE_SECONDS)
    )
    stopper.start()
    time.sleep(1.0)  # SIGTERM is delivered while every upload is still half sent
    release.set()
    for upload in uploads:
        upload.join(timeout=30)
    stopper.join(timeout=CLOUD_RUN_GRACE_SECONDS + 60)
    stop_seconds = time.monotonic() - stop_started
    report_line(
        f"SIGTERM with {IN_FLIGHT_REQUESTS} uploads in flight (released 1 s after it): "
        f"stopped in {stop_seconds:.1f} s"
    )

    outcomes = [(u.status, u.error) for u in uploads]
    assert all(u.status == 200 for u in uploads), outcomes
    assert all(u.body["predictions"][0]["class_id"] == label for u in uploads)
    assert not stopper.is_alive()
    assert stop_seconds < CLOUD_RUN_GRACE_SECONDS, f"took {stop_seconds:.1f} s to stop"
    assert not service.engine.is_running(service.container)
    assert service.engine.exit_code(service.container) == 0  # Gunicorn's own exit, not SIGKILL

"""What the container writes is Cloud Logging structured JSON, one entry per line.

Cloud Run's logging agent parses each line of stdout and stderr as a LogEntry when it is a JSON
object: `severity`, `message`, `httpRequest`, `logging.googleapis.com/trace` become fields of
the entry; anything else becomes a plain-text entry without a severity.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import requests
from container_engine import RunningService
from container_samples import golden_pngs

SEVERITIES = {
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
}
# The handler's first record in each process is a diagnostic entry, without a message.
DIAGNOSTIC = "logging.googleapis.com/diagnostic"
PROJECT_ID = "container-test"  # the `service` fixture runs the container with it


def parse_lines(stream: str) -> list[dict]:
    """Every non-empty line as a JSON object (an assertion error names the first that is not)."""
    entries = []
    for number, line in enumerate(stream.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict), f"line {number} is not a JSON object: {line!r}"
        entries.append(entry)
    return entries


def test_every_line_on_stdout_and_stderr_is_a_structured_entry(service: RunningService) -> None:
    requests.get(f"{service.base_url}/", timeout=5)
    stdout, stderr = service.logs()

    entries = parse_lines(stdout) + parse_lines(stderr)

    assert entries, "the container wrote no logs"
    for entry in entries:
        assert entry.get("severity") in SEVERITIES, entry
        assert "message" in entry or DIAGNOSTIC in entry, entry
    messages = [entry.get("message", "") for entry in entries]
    assert any(message.startswith("Starting gunicorn") for message in messages)


def test_a_prediction_is_logged_once_with_request_trace_and_labels(
    service: RunningService,
) -> None:
    trace_id = uuid.uuid4().hex
    png, _ = golden_pngs()[1]
    answer = requests.post(
        f"{service.base_url}/predict",
        data=png,
        headers={"Content-Type": "image/png", "X-Cloud-Trace-Context": f"{trace_id}/1;o=1"},
        timeout=10,
    )
    assert answer.status_code == 200

    entries = _entries_with_trace(service, f"projects/{PROJECT_ID}/traces/{trace_id}")

    assert len(entries) == 1, entries
    (entry,) = entries
    assert entry["severity"] == "INFO"
    http = entry["httpRequest"]
    assert http["requestMethod"] == "POST"
    assert http["requestUrl"].endswith("/predict")
    assert http["status"] == 200
    assert http["latency"].endswith("s")
    assert entry["prediction"]["labels"] == [answer.json()["predictions"][0]["label"]]
    assert entry["backend"] == "embedded"
    serialized = json.dumps(entry)
    assert base64.b64encode(png).decode() not in serialized, "the request body was logged"


def _entries_with_trace(service: RunningService, trace: str) -> list[dict]:
    """The log entries carrying `trace`, waiting briefly for the line to be written."""
    deadline = time.monotonic() + 5
    while True:
        stdout, _ = service.logs()
        found = [e for e in parse_lines(stdout) if e.get("logging.googleapis.com/trace") == trace]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)

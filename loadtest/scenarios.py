"""What the load test's clients do: the API used as real clients use it.

One Locust FastHttpUser with weighted tasks, one request each: raw PNG uploads, base64 JSON, a
pixel array, multipart uploads, JSON batches, a small share of deliberately bad requests, and
health/readiness probes. Every image is a committed test image with a known label; an answer
with the wrong label, a malformed body or an unexpected status is a failure. A bad request
answered with its expected 4xx and the API's error body is a success; a 5xx never is.

In the open model (--arrival-rate > 0) each task first waits for its arrival slot
(loadtest.arrivals); in the closed model a user thinks 0.5-1.5 s between requests.
"""

from __future__ import annotations

import json
import random
from typing import Any

from locust import FastHttpUser, task

from loadtest import arrivals
from loadtest.auth import TokenUnavailable
from loadtest.checks import BAD_REQUESTS, check_prediction, check_rejection, multipart_body
from loadtest.samples import Sample, load_samples

PREDICT = "/predict"
BATCH_SIZES = (2, 8)
THINK_TIME_S = (0.5, 1.5)
SAMPLES: tuple[Sample, ...] = load_samples()
for _sample in SAMPLES:  # encode and decode now: a first use mid-run would stall the event loop
    _sample.base64, _sample.pixels  # noqa: B018


# Set per process by loadtest.hooks when the target needs an identity token.
token_provider: Any = None


class PredictionClient(FastHttpUser):
    """A client of the prediction API (weights: share of iterations, out of 100)."""

    network_timeout = 30.0
    connection_timeout = 10.0

    def wait_time(self) -> float:
        if self._open_model():
            return 0.0  # pacing happens in `_pace`, on the shared arrival schedule
        return random.uniform(*THINK_TIME_S)  # noqa: S311 - load pacing, not security

    @task(40)
    def predict_png(self) -> None:
        sample = self._pace_and_pick()
        self._predict("png", [sample], data=sample.png, content_type="image/png")

    @task(20)
    def predict_base64_json(self) -> None:
        sample = self._pace_and_pick()
        body = {"instances": [{"content": sample.base64}]}
        self._predict("json base64", [sample], data=json.dumps(body).encode())

    @task(5)
    def predict_pixels_json(self) -> None:
        sample = self._pace_and_pick()
        body = {"instances": [{"pixels": sample.pixels}]}
        self._predict("json pixels", [sample], data=json.dumps(body).encode())

    @task(10)
    def predict_multipart(self) -> None:
        sample = self._pace_and_pick()
        body, content_type = multipart_body("image", sample.file, sample.png)
        self._predict("multipart", [sample], data=body, content_type=content_type)

    @task(10)
    def predict_batch(self) -> None:
        self._pace()
        batch = random.sample(SAMPLES, random.randint(*BATCH_SIZES))  # noqa: S311 - load mix
        body = {"instances": [{"content": sample.base64} for sample in batch]}
        self._predict("json batch", batch, data=json.dumps(body).encode())

    @task(5)
    def bad_request(self) -> None:
        self._pace()
        bad = random.choice(BAD_REQUESTS)  # noqa: S311 - load mix, not security
        headers = {**self._auth(), "Content-Type": bad.content_type}
        name = f"POST {PREDICT} bad: {bad.name}"
        with self.client.post(
            PREDICT, data=bad.body, headers=headers, name=name, catch_response=True
        ) as response:
            check_rejection(response, bad.expected)

    @task(5)
    def health(self) -> None:
        self._probe("/")

    @task(5)
    def readiness(self) -> None:
        self._probe("/ready")

    def _probe(self, path: str) -> None:
        self._pace()
        with self.client.get(
            path, headers=self._auth(), name=f"GET {path}", catch_response=True
        ) as response:
            if response.status_code == 200:
                response.success()
            else:
                response.failure(f"{path} answered {response.status_code}")

    def _predict(
        self,
        kind: str,
        expected: list[Sample],
        data: bytes,
        content_type: str = "application/json",
    ) -> None:
        headers = {**self._auth(), "Content-Type": content_type}
        with self.client.post(
            PREDICT, data=data, headers=headers, name=f"POST {PREDICT} {kind}", catch_response=True
        ) as response:
            check_prediction(response, expected)

    def _pace_and_pick(self) -> Sample:
        self._pace()
        return random.choice(SAMPLES)  # noqa: S311 - load mix, not security

    def _pace(self) -> None:
        if self._open_model():
            arrivals.SCHEDULER.wait_for_slot()

    def _open_model(self) -> bool:
        options = self.environment.parsed_options
        return bool(options and getattr(options, "arrival_rate", 0) > 0)

    def _auth(self) -> dict[str, str]:
        if token_provider is None:
            return {}
        try:
            return token_provider.authorization_header()
        except TokenUnavailable:
            # Logged once by the provider; the answers (401/403) tell the gate what happened.
            return {}

"""The `vertex` backend: predictions from a Vertex AI endpoint, within the request's deadline.

Client: `aiplatform_v1.PredictionServiceClient` (the GAPIC client under `aiplatform.Endpoint`)
on its gRPC transport. Why not `aiplatform.Endpoint(...).predict`: that wrapper fetches the
endpoint resource on first use (one extra GetEndpoint call, needing a broader IAM role), needs
`aiplatform.init` state, and adds nothing we use. The GAPIC call takes an explicit `timeout`,
which on gRPC is a true deadline for the whole call (REST's is a per-socket-read timeout), and
`retry=None` so that the only retries are ours, inside the request deadline. The client is built
once per worker process (rebuilt if the process forked since: a gRPC channel does not survive a
fork) and warmed up by one prediction at start-up, which opens the channel, fetches the access
token and checks that the endpoint understands our instance format.

`VERTEX_API_ENDPOINT` of the form `http://127.0.0.1:PORT` selects a plaintext channel with
anonymous credentials: allowed only on loopback, for the tests' local Vertex AI server.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import grpc
import numpy as np
import requests
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1 import PredictionServiceClient, PredictRequest, PredictResponse
from google.cloud.aiplatform_v1.services.prediction_service.transports import (
    PredictionServiceGrpcTransport,
)
from google.protobuf import json_format

from service.backends import Backend, BackendNotReady, BackendResult, embedded
from service.backends.vertex_format import (
    MalformedPrediction,
    encode_instances,
    probabilities_from_predictions,
    request_parameters,
)
from service.config import VERTEX_TRANSPORTS, Settings, is_loopback
from service.model import golden_samples
from service.preprocess import to_model_input
from service.resilience import (
    CircuitBreaker,
    FailureKind,
    ResilientCaller,
    RetryBudget,
    RetryPolicy,
    UpstreamFailure,
)

logger = logging.getLogger(__name__)

# A failed start-up check is retried by the readiness probe, at most this often.
READY_RECHECK_SECONDS = 5.0


def build_prediction_client(api_endpoint: str, transport: str) -> Any:
    """A PredictionServiceClient; `http://` endpoints (loopback only) use no TLS and no auth."""
    if transport not in VERTEX_TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; expected one of {VERTEX_TRANSPORTS}")
    parts = urlsplit(api_endpoint if "://" in api_endpoint else f"https://{api_endpoint}")
    if parts.scheme != "http":
        return PredictionServiceClient(
            transport=transport, client_options=ClientOptions(api_endpoint=parts.netloc)
        )
    if not is_loopback(parts.hostname or ""):
        raise ValueError(f"{api_endpoint}: plaintext (http://) is allowed only on loopback")
    if transport == "rest":
        return PredictionServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=f"http://{parts.netloc}"),
        )
    channel = grpc.insecure_channel(parts.netloc)
    return PredictionServiceClient(transport=PredictionServiceGrpcTransport(channel=channel))


def classify_error(error: BaseException) -> FailureKind:
    """Which kind of failure a client exception is (gRPC and REST transports)."""
    if isinstance(error, google_errors.DeadlineExceeded | google_errors.GatewayTimeout):
        return FailureKind.TIMEOUT
    if isinstance(error, google_errors.TooManyRequests):  # includes RESOURCE_EXHAUSTED
        return FailureKind.OVERLOADED
    if isinstance(error, google_errors.ServiceUnavailable):
        return FailureKind.UNAVAILABLE
    if isinstance(error, google_errors.ServerError | MalformedPrediction):
        return FailureKind.BAD_RESPONSE
    if isinstance(error, google_errors.ClientError):
        return FailureKind.REJECTED
    # The REST transport lets the HTTP library's own errors through.
    if isinstance(error, requests.Timeout):
        return FailureKind.TIMEOUT
    if isinstance(error, requests.ConnectionError):
        return FailureKind.UNAVAILABLE
    return FailureKind.BAD_RESPONSE  # e.g. a body that is not JSON or not a PredictResponse


class VertexBackend:
    """Backend protocol over a Vertex AI endpoint, with an optional embedded fallback."""

    name = "vertex"

    def __init__(
        self,
        settings: Settings,
        fallback: Backend | None = None,
        warmup_images: np.ndarray | None = None,
    ) -> None:
        vertex = settings.vertex
        self.settings = vertex
        self.endpoint_path = vertex.endpoint_path(settings.project_id)
        self.request_deadline = settings.predict_timeout_seconds
        self.fallback = fallback
        # One breaker, one retry budget and (in _get_client) one channel per process, shared
        # by every request in flight.
        self.breaker = CircuitBreaker(
            "vertex", vertex.breaker_failures, vertex.breaker_reset_seconds
        )
        self.retry_budget = RetryBudget(vertex.retry_budget)
        self._caller = ResilientCaller(
            self.breaker,
            RetryPolicy(retries=vertex.retries),
            vertex.timeout_seconds,
            classify_error,
            budget=self.retry_budget,
        )
        self._warmup_images = warmup_images
        self._client: Any = None
        self._client_pid = 0
        self._lock = threading.Lock()
        self._reachable = False
        self._not_ready_reason = "the start-up prediction has not run yet"
        self._last_check = -READY_RECHECK_SECONDS

    # --- Backend protocol ----------------------------------------------------------------
    def predict(self, images: np.ndarray, deadline: float | None = None) -> BackendResult:
        if deadline is None:
            deadline = time.monotonic() + self.request_deadline
        request = self._request(images)
        try:
            result = self._caller.call(
                lambda timeout: self._predict_once(request, len(images), timeout), deadline
            )
        except UpstreamFailure as failure:
            if self.fallback is None:
                self._log_failure(failure, fallback=False)
                raise
            self._log_failure(failure, fallback=True)
            return replace(self.fallback.predict(images), fallback=True)
        self._reachable = True
        return result

    def check_ready(self) -> None:
        if self.fallback is not None:
            self.fallback.check_ready()
        if not self.settings.required_at_startup or self._reachable:
            return
        now = time.monotonic()
        if now - self._last_check >= READY_RECHECK_SECONDS:
            self.warm_up()
        if not self._reachable:
            raise BackendNotReady(
                f"Vertex AI endpoint {self.endpoint_path} not reachable yet: "
                f"{self._not_ready_reason}"
            )

    # --- start-up ------------------------------------------------------------------------
    def warm_up(self) -> bool:
        """One prediction to open the channel and check the endpoint; never raises."""
        self._last_check = time.monotonic()
        try:
            self._get_client()
            if self._warmup_images is None:
                return False
            request = self._request(self._warmup_images[:1])
            deadline = time.monotonic() + self.request_deadline
            self._caller.call(lambda timeout: self._predict_once(request, 1, timeout), deadline)
        except (UpstreamFailure, ValueError) as error:
            # The client-fit message: readiness answers say why, the upstream detail is logged.
            self._not_ready_reason = getattr(error, "message", str(error))
            logger.warning(
                "Vertex AI endpoint %s failed its start-up prediction: %s",
                self.endpoint_path,
                error,
                extra={"json_fields": {"backend": self.name, "warmup": "failed"}},
            )
            return False
        self._reachable = True
        logger.info(
            "Vertex AI endpoint %s answered its start-up prediction",
            self.endpoint_path,
            extra={"json_fields": {"backend": self.name, "warmup": "ok"}},
        )
        return True

    # --- one attempt -----------------------------------------------------------------------
    def _get_client(self) -> Any:
        with self._lock:
            pid = os.getpid()
            if self._client is None or self._client_pid != pid:
                self._client = build_prediction_client(
                    self.settings.resolved_api_endpoint, self.settings.transport
                )
                self._client_pid = pid
            return self._client

    def _request(self, images: np.ndarray) -> PredictRequest:
        """The PredictRequest for `images`, built once and sent by every attempt."""
        # proto-plus cannot take dicts for google.protobuf.Value fields: fill the raw message
        # (Struct.update and ListValue.extend are also much faster than json_format).
        raw = PredictRequest.pb()(endpoint=self.endpoint_path)
        for instance in encode_instances(images, self.settings.instance_format):
            value = raw.instances.add()
            if isinstance(instance, dict):
                value.struct_value.update(instance)
            else:
                value.list_value.extend(instance)
        parameters = request_parameters(self.settings.instance_format)
        if parameters is not None:
            raw.parameters.struct_value.update(parameters)
        return PredictRequest.wrap(raw)

    def _predict_once(self, request: PredictRequest, count: int, timeout: float) -> BackendResult:
        response = self._get_client().predict(request=request, timeout=timeout, retry=None)
        raw = PredictResponse.pb(response)
        predictions = [json_format.MessageToDict(value) for value in raw.predictions]
        return BackendResult(
            probabilities=probabilities_from_predictions(predictions, count),
            model_name=response.model_display_name
            or f"vertex-endpoint-{self.settings.endpoint_id}",
            model_version=response.deployed_model_id or "unknown",
        )

    def _log_failure(self, failure: UpstreamFailure, *, fallback: bool) -> None:
        action = "answered by the embedded fallback" if fallback else "no fallback configured"
        logger.warning(
            "Vertex AI prediction failed (%s after %d attempt(s)); %s",
            failure.code,
            failure.attempts,
            action,
            extra={
                "json_fields": {
                    "backend": self.name,
                    "fallback": fallback,
                    "upstream_error": {
                        "code": failure.code,
                        "status": failure.status,
                        "attempts": failure.attempts,
                        "detail": failure.detail,
                    },
                }
            },
        )


def build(settings: Settings) -> VertexBackend:
    """The backend for `settings` (BACKEND=vertex), its client built and warmed up."""
    fallback = embedded.build(settings) if settings.vertex.fallback == "embedded" else None
    golden_images, _ = golden_samples()
    warmup_images = np.stack([to_model_input(image)[0] for image in golden_images[:1]])
    backend = VertexBackend(settings, fallback, warmup_images.astype(np.float32))
    backend.warm_up()
    return backend

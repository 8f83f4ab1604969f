"""A Vertex AI prediction service on 127.0.0.1, over the embedded model, with faults on demand.

It speaks the wire protocols the real `google-cloud-aiplatform` client speaks:
- gRPC: `google.cloud.aiplatform.v1.PredictionService/Predict` (insecure channel);
- REST: `POST /v1/projects/{p}/locations/{l}/endpoints/{e}:predict`.
Answers come from `service.model` (NumPy), decoded independently of the service's own code so
that a test through it checks the service's encoding: AutoML image instances
(`{"content": base64 image, "mimeType": ...}`) get AutoML classification predictions
(`ids`, `displayNames`, `confidences`, honouring `confidenceThreshold` and `maxPredictions`);
784-float instances get a plain list of 10 probabilities, as a custom-trained model returns.

Faults are set over HTTP on the REST port (so a test can steer a server in another process):
    POST /_control/fault  {"kind": "unavailable", "count": 3, "latency_ms": 0,
                           "after_s": 20, "for_s": 20}
    POST /_control/latency {"latency_ms": 100}: the base latency from now on
    POST /_control/reset  clears the fault and the counters, restores the start-up latency
    GET  /_control/stats  {"attempts": N, "faults_served": {...}, "endpoints": [...],
                           "per_second": [[unix second, attempts], ...]}
Kinds: none, unavailable (UNAVAILABLE / 503), overloaded (RESOURCE_EXHAUSTED / 429),
internal (INTERNAL / 500), deadline (DEADLINE_EXCEEDED / 504), slow (a good answer after the
fault's latency_ms), malformed (a well-formed answer of the wrong shape), garbage (bytes that do
not parse), hang (never answers). `count` limits the fault to the next N attempts (default:
every attempt); `after_s` and `for_s` make it a time window, starting `after_s` seconds after
it is set and lasting `for_s` seconds (default: from now until reset); `latency_ms` delays
every attempt while the fault is active. The base latency (`--latency-ms`) delays every answer,
faulty or not: the model's own serving time.
`SilentListener` is a TCP port that accepts connections and never says a word.

Run as a process (loadtest, benchmarks and tests start it this way):
    python -m fakes.vertex_server --port 0 --grpc-port 0 --latency-ms 100 \
        [--fault unavailable --fault-after 20 --fault-for 20]
prints one JSON line with the ports it bound, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import collections
import io
import json
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from google.cloud.aiplatform_v1 import PredictRequest, PredictResponse
from google.protobuf import json_format, struct_pb2
from PIL import Image
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from fakes.faults import FAULT_KINDS, Fault, FaultPlan
from service.labels import CLASS_NAMES
from service.model import load_classifier

HOST = "127.0.0.1"
SERVICE_NAME = "google.cloud.aiplatform.v1.PredictionService"
REST_PREDICT_SUFFIX = ":predict"
GARBAGE_PROTO = b"\x0a\x05abc"  # field 1 claims 5 bytes and carries 3: does not decode
HANG_LIMIT_SECONDS = 60.0
# Enough threads for every call in flight: 80 concurrent requests, each with its retries.
GRPC_THREADS = 512
STATUS_CODES = {
    "unavailable": (grpc.StatusCode.UNAVAILABLE, 503, "UNAVAILABLE"),
    "overloaded": (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "RESOURCE_EXHAUSTED"),
    "internal": (grpc.StatusCode.INTERNAL, 500, "INTERNAL"),
    "deadline": (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED"),
}


class BadInstance(ValueError):
    """An instance neither format describes (answered as INVALID_ARGUMENT / 400)."""


class FakeModel:
    """Instances in, Vertex-shaped predictions out, from the embedded NumPy classifier."""

    def __init__(self, deployed_model_id: str) -> None:
        self.classifier = load_classifier()
        self.deployed_model_id = deployed_model_id

    def predict(self, instances: list[Any], parameters: dict[str, Any]) -> list[Any]:
        images = np.stack([self._image(instance) for instance in instances])
        probabilities = self.classifier.predict_proba(images)
        if isinstance(instances[0], dict):
            return [self._automl(row, parameters) for row in probabilities]
        return [[float(p) for p in row] for row in probabilities]

    @staticmethod
    def _image(instance: Any) -> np.ndarray:
        if isinstance(instance, dict):
            try:
                raw = base64.b64decode(instance["content"], validate=True)
                with Image.open(io.BytesIO(raw)) as image:
                    gray = image.convert("L").resize((28, 28))
            except (KeyError, TypeError, ValueError, OSError) as error:
                raise BadInstance(f"instance content is not a base64 image: {error}") from error
            return np.asarray(gray, dtype=np.float32) / 255.0
        vector = np.asarray(instance, dtype=np.float32)
        if vector.shape != (784,):
            raise BadInstance(f"a vector instance needs 784 floats, got shape {vector.shape}")
        return vector.reshape(28, 28)

    @staticmethod
    def _automl(row: np.ndarray, parameters: dict[str, Any]) -> dict[str, list[Any]]:
        threshold = float(parameters.get("confidenceThreshold", 0.0))
        limit = int(parameters.get("maxPredictions", 10))
        order = [int(i) for i in np.argsort(-row, kind="stable") if row[i] >= threshold][:limit]
        return {
            "ids": [str(i) for i in order],
            "displayNames": [CLASS_NAMES[i] for i in order],
            "confidences": [float(row[i]) for i in order],
        }

    def response(self, predictions: list[Any]) -> dict[str, Any]:
        return {
            "predictions": predictions,
            "deployedModelId": self.deployed_model_id,
            "model": "projects/fake/locations/us-central1/models/fashion-mnist-automl",
            "modelDisplayName": "fashion-mnist-automl",
            "modelVersionId": "1",
        }


MALFORMED_PREDICTIONS = [{"unexpected": "shape"}]


class AnswerCache:
    """Predictions for instances seen before (with the same parameters), by their bytes. The
    model is deterministic, and a load test sends the same few hundred samples over and over,
    alone or in batches: without this the fake's decoding and forward pass (about 3 ms of CPU
    per call) compete for the CPU with the service it stands in front of, which a real remote
    endpoint does not."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._answers: collections.OrderedDict[bytes, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Any:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: bytes, answer: Any) -> None:
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > self._size:
                self._answers.popitem(last=False)


class QuietRequestHandler(WSGIRequestHandler):
    """No access-log line per request: tests print what they measured instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class FakeVertexServer:
    """Both protocols on loopback, one fault plan, one model."""

    def __init__(
        self, deployed_model_id: str = "7341985214160478208", base_latency_ms: int = 0
    ) -> None:
        self.model = FakeModel(deployed_model_id)
        self.faults = FaultPlan(base_latency_ms)
        self._answers = AnswerCache()
        self._stopping = threading.Event()
        self._grpc_server: grpc.Server | None = None
        self._http_server: Any = None
        self.grpc_port = 0
        self.rest_port = 0

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, rest_port: int = 0, grpc_port: int = 0) -> FakeVertexServer:
        self._grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_THREADS))
        handler = grpc.unary_unary_rpc_method_handler(
            self._grpc_predict,
            request_deserializer=None,  # the raw bytes: parsed in _grpc_predict, and a cache key
            response_serializer=_serialize_response,
        )
        self._grpc_server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, {"Predict": handler}),)
        )
        self.grpc_port = self._grpc_server.add_insecure_port(f"{HOST}:{grpc_port}")
        self._grpc_server.start()
        self._http_server = make_server(
            HOST, rest_port, self._wsgi, threaded=True, request_handler=QuietRequestHandler
        )
        self.rest_port = self._http_server.server_port
        threading.Thread(target=self._http_server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=0)
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()

    def __enter__(self) -> FakeVertexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    # --- gRPC --------------------------------------------------------------------------------
    def _grpc_predict(self, request_bytes: bytes, context: grpc.ServicerContext) -> Any:
        raw = PredictRequest.pb().FromString(request_bytes)
        kind, latency = self.faults.next_attempt(raw.endpoint)
        left = threading.Event()  # set when the client cancels or its deadline passes
        context.add_callback(left.set)
        self._wait(latency, left)
        if kind == "hang":
            self._wait(HANG_LIMIT_SECONDS, left)
            context.abort(grpc.StatusCode.CANCELLED, "hung until the client left")
        if kind in STATUS_CODES:
            context.abort(STATUS_CODES[kind][0], f"injected fault: {kind}")
        if kind == "garbage":
            return GARBAGE_PROTO
        if kind == "malformed":
            message = PredictResponse.pb()()
            json_format.ParseDict(self.model.response(MALFORMED_PREDICTIONS), message)
            return message.SerializeToString()
        try:
            predictions = self._predictions(raw)
        except BadInstance as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        message = PredictResponse.pb()()
        json_format.ParseDict(self.model.response([]), message)  # the model's fields
        message.predictions.extend(predictions)
        return message.SerializeToString()

    def _predictions(self, raw: Any) -> list[Any]:
        """One prediction (a protobuf Value) per instance, from the cache where it can."""
        parameters_key = raw.parameters.SerializeToString(deterministic=True)
        keys = [parameters_key + v.SerializeToString(deterministic=True) for v in raw.instances]
        found = [self._answers.get(key) for key in keys]
        missing = [index for index, value in enumerate(found) if value is None]
        if missing:
            parameters = (
                json_format.MessageToDict(raw.parameters) if raw.HasField("parameters") else {}
            )
            instances = [json_format.MessageToDict(raw.instances[i]) for i in missing]
            for index, prediction in zip(
                missing, self.model.predict(instances, parameters or {}), strict=True
            ):
                value = struct_pb2.Value()
                json_format.ParseDict(prediction, value)
                self._answers.put(keys[index], value)
                found[index] = value
        return found

    # --- REST --------------------------------------------------------------------------------
    @Request.application
    def _wsgi(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_control/"):
            return self._control(request, path.removeprefix("/_control/"))
        parts = path.strip("/").split("/")
        is_predict = (
            request.method == "POST"
            and len(parts) == 7
            and parts[0] == "v1"
            and parts[1::2][:3] == ["projects", "locations", "endpoints"]
            and parts[6].endswith(REST_PREDICT_SUFFIX)
        )
        if not is_predict:
            return _rest_error(404, "NOT_FOUND", f"no route for {request.method} {path}")
        endpoint = "/".join(parts[1:]).removesuffix(REST_PREDICT_SUFFIX)
        kind, latency = self.faults.next_attempt(endpoint)
        self._wait(latency)
        if kind == "hang":
            self._wait(HANG_LIMIT_SECONDS)
            return _rest_error(499, "CANCELLED", "hung until the limit")
        if kind in STATUS_CODES:
            return _rest_error(*STATUS_CODES[kind][1:], f"injected fault: {kind}")
        if kind == "garbage":
            return Response(b"<html>502 from a proxy</html>", 200, mimetype="application/json")
        try:
            body = json.loads(request.get_data())
            instances = body["instances"]
            predictions = (
                MALFORMED_PREDICTIONS
                if kind == "malformed"
                else self.model.predict(instances, body.get("parameters") or {})
            )
        except (ValueError, KeyError, TypeError, IndexError) as error:
            return _rest_error(400, "INVALID_ARGUMENT", f"bad predict request: {error}")
        return Response(json.dumps(self.model.response(predictions)), mimetype="application/json")

    def _control(self, request: Request, action: str) -> Response:
        if action == "stats" and request.method == "GET":
            return Response(json.dumps(self.faults.stats()), mimetype="application/json")
        if action == "reset" and request.method == "POST":
            self.faults.reset()
            return Response("{}", mimetype="application/json")
        if action == "latency" and request.method == "POST":
            try:
                latency_ms = int(json.loads(request.get_data())["latency_ms"])
                if latency_ms < 0:
                    raise ValueError("latency_ms must be >= 0")
            except (ValueError, TypeError, KeyError) as error:
                return _rest_error(400, "INVALID_ARGUMENT", f"bad latency: {error}")
            self.faults.base_latency_ms = latency_ms
            return Response("{}", mimetype="application/json")
        if action == "fault" and request.method == "POST":
            try:
                self.faults.set(Fault(**json.loads(request.get_data())))
            except (ValueError, TypeError) as error:
                return _rest_error(400, "INVALID_ARGUMENT", str(error))
            return Response("{}", mimetype="application/json")
        return _rest_error(404, "NOT_FOUND", f"no control action {request.method} {action}")

    def _wait(self, seconds: float, left: threading.Event | None = None) -> None:
        """Sleep up to `seconds`, sooner when the server stops or the caller has gone. One
        blocking wait per call, no polling: 80 calls waiting cost no CPU (a 20 ms poll loop
        per call took the fake's GIL hundreds of times a second under load)."""
        if seconds <= 0:
            return
        if left is None:
            self._stopping.wait(seconds)
            return
        end = time.monotonic() + seconds
        # stop() cancels every call (grace=0), which sets `left`; the one-second slices are a
        # backstop should a callback not fire.
        while not left.wait(max(0.0, min(1.0, end - time.monotonic()))):
            if time.monotonic() >= end or self._stopping.is_set():
                return


def _serialize_response(response: Any) -> bytes:
    return response if isinstance(response, bytes) else response.SerializeToString()


def _rest_error(status: int, reason: str, message: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return Response(json.dumps(body), status, mimetype="application/json")


class SilentListener:
    """A TCP port on loopback that accepts connections and never answers (until stopped)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._accepted.append(connection)  # held open, never read, never written

    def close(self) -> None:
        self._closed.set()
        self._socket.close()
        for connection in self._accepted:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="REST and control port (0: any)")
    parser.add_argument("--grpc-port", type=int, default=0, help="gRPC port (0: any)")
    parser.add_argument("--deployed-model-id", default="7341985214160478208")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="base latency of every answer (default 0)"
    )
    parser.add_argument("--fault", choices=FAULT_KINDS, default="none", help="a fault to serve")
    parser.add_argument(
        "--fault-after", type=float, default=0.0, help="seconds from start to the fault"
    )
    parser.add_argument("--fault-for", type=float, help="how long the fault lasts (s)")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    server = FakeVertexServer(args.deployed_model_id, args.latency_ms)
    try:
        server.faults.set(Fault(args.fault, after_s=args.fault_after, for_s=args.fault_for))
    except ValueError as error:
        parser.error(str(error))
    server.start(args.port, args.grpc_port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(json.dumps({"rest_port": server.rest_port, "grpc_port": server.grpc_port}), flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

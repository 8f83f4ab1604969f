"""An in-memory Google Cloud (Monitoring, Dashboards, Logging metrics) on 127.0.0.1, over gRPC.

The official clients talk to it exactly as to Google: requests and responses are the clients'
own proto-plus types, (de)serialised with their `deserialize`/`serialize`, on generic method
handlers. Each API module implements the methods the toolkit uses, with the API's resource
names, etags, update masks, server-filled fields and the validation its documentation states.
Every call is counted (`calls`), so a test can show that nothing was sent.
"""

from __future__ import annotations

import abc
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import empty_pb2, timestamp_pb2


class Empty:
    """google.protobuf.Empty with the serialize/deserialize pair the handlers expect."""

    @staticmethod
    def serialize(message: Any) -> bytes:
        return message.SerializeToString()

    @staticmethod
    def deserialize(data: bytes) -> Any:
        return empty_pb2.Empty.FromString(data)


class Abort(Exception):
    """Raised by API code; the handler turns it into the gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Method:
    function: Callable[[Any], Any]  # raw request pb -> raw response pb (or Empty)
    request_type: Any  # proto-plus class
    response_type: Any  # proto-plus class or Empty


def rpc(
    module: Any, name: str, function: Callable[[Any], Any], response: Any
) -> tuple[str, Method]:
    """A table entry: the request type is `<name>Request` in the API's types module."""
    return name, Method(function, getattr(module, f"{name}Request"), response)


@dataclass
class CloudState:
    """Everything the fake holds, shared by the API modules."""

    project: str
    project_number: str = "123456789012"
    page_size: int = 2  # small, so that the clients' pagers must follow next_page_token
    calls: Counter[str] = field(default_factory=Counter)
    requests: dict[str, list[Any]] = field(default_factory=dict)  # method -> raw requests
    fail_once: dict[str, tuple[grpc.StatusCode, str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    # How long a new log-based metric stays unknown to Cloud Monitoring: an alert policy naming
    # it is refused with NOT_FOUND "... could take up to 10 minutes" meanwhile
    # (hashicorp/terraform-provider-google#11102; GoogleCloudPlatform/cloud-foundation-fabric
    # #3739). Minutes in Google; a fraction of a second here, set per test.
    metric_propagation_seconds: float = 0.0
    echo_project_number: bool = True
    metric_visible_at: dict[str, float] = field(default_factory=dict)  # metric type -> clock

    def new_id(self) -> str:
        return str(next(self.ids))

    def check_parent(self, parent: str) -> None:
        allowed = {f"projects/{self.project}", f"projects/{self.project_number}"}
        if parent not in allowed:
            raise Abort(grpc.StatusCode.PERMISSION_DENIED, f"no access to {parent!r}")

    def numbered(self, name: str) -> str:
        """A name as the API writes it back: projects/NUMBER/... even when the request said
        projects/PROJECT_ID/... (the API reference: projects/[PROJECT_ID_OR_NUMBER]/...;
        google/slo-generator compares only the last segment of service and SLO names because
        of this). Requests may use either form. With echo_project_number False, names come
        back with the project id instead: the toolkit must work with both."""
        given, echoed = f"projects/{self.project}", f"projects/{self.project_number}"
        if not self.echo_project_number:
            given, echoed = echoed, given
        if name == given or name.startswith(f"{given}/"):
            return echoed + name[len(given) :]
        return name

    def log_metric_created(self, metric_type: str) -> None:
        self.metric_visible_at[metric_type] = time.monotonic() + self.metric_propagation_seconds

    def log_metric_visible(self, metric_type: str) -> bool:
        visible_at = self.metric_visible_at.get(metric_type)
        return visible_at is not None and time.monotonic() >= visible_at

    def now(self) -> timestamp_pb2.Timestamp:
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        return stamp


def paginate(
    items: list[Any], page_size: int, page_token: str, default: int
) -> tuple[list[Any], str]:
    """One page and the token of the next (the offset), as List methods do."""
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise Abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"invalid page_token {page_token!r}"
        ) from None
    size = page_size or default
    end = start + size
    return items[start:end], (str(end) if end < len(items) else "")


def service_handler(
    service: str, methods: list[tuple[str, Method]], state: CloudState
) -> grpc.GenericRpcHandler:
    handlers = {}
    for name, method in methods:

        def call(
            request: Any, context: grpc.ServicerContext, method: Method = method, name: str = name
        ) -> Any:
            qualified = f"{service.rsplit('.', 1)[-1]}.{name}"
            state.calls[qualified] += 1
            raw = type(request).pb(request)
            state.requests.setdefault(qualified, []).append(raw)
            try:
                with state.lock:
                    if qualified in state.fail_once:  # fault injection for a test
                        raise Abort(*state.fail_once.pop(qualified))
                    result = method.function(raw)
            except Abort as error:
                context.abort(error.code, error.message)
            if method.response_type is Empty:
                return result
            return method.response_type.wrap(result)

        handlers[name] = grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=method.request_type.deserialize,
            response_serializer=method.response_type.serialize,
        )
    return grpc.method_handlers_generic_handler(service, handlers)


class FakeServer(abc.ABC):
    """Serves `api_handlers()` on 127.0.0.1:<free port>; `endpoint` is what --endpoint takes."""

    def __init__(self, project: str) -> None:
        self.state = CloudState(project)
        self._server: grpc.Server | None = None
        self.endpoint = ""

    @abc.abstractmethod
    def api_handlers(self) -> list[grpc.GenericRpcHandler]:
        """The generic handlers of the APIs this fake serves."""

    @property
    def calls(self) -> Counter[str]:
        return self.state.calls

    def start(self) -> FakeServer:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(tuple(self.api_handlers()))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

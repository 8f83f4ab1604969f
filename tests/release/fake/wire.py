"""Generic gRPC handlers on raw protobuf messages (run_v2 and longrunning mixed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from tests.monitoring.fake.server import Abort, CloudState


def handler(
    service: str, methods: dict[str, tuple[Callable[[Any], Any], Any]], state: CloudState
) -> grpc.GenericRpcHandler:
    """`methods`: name -> (function on the raw request, raw request class)."""
    table = {}
    for name, (function, request_class) in methods.items():

        def call(request: Any, context: grpc.ServicerContext, function=function, name=name) -> Any:
            state.calls[name] += 1
            state.requests.setdefault(name, []).append(request)
            try:
                with state.lock:
                    if name in state.fail_once:
                        raise Abort(*state.fail_once.pop(name))
                    return function(request)
            except Abort as error:
                context.abort(error.code, error.message)

        table[name] = grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=request_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
    return grpc.method_handlers_generic_handler(service, table)

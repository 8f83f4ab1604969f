"""google.logging.v2.MetricsServiceV2: log-based metrics.

Documented behaviour reproduced: metric names of at most 100 characters from
A-Z a-z 0-9 _-.,+!*'()%/ not starting with "/"; a filter is required; ALREADY_EXISTS on a
second create; UpdateLogMetric creates the metric when it does not exist; create/update times
and the metric descriptor's name and type (logging.googleapis.com/user/NAME) filled in by the
server; a DISTRIBUTION needs a value extractor and bucket options; label extractors only for
declared labels; an update cannot change the metric kind or value type; a new metric becomes
known to Cloud Monitoring only after a delay (CloudState.metric_propagation_seconds; up to 10
minutes in Google, hashicorp/terraform-provider-google#11102).
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.cloud.logging_v2 import types

from tests.monitoring.fake.common import (
    already_exists,
    copy_of,
    delete_named,
    invalid,
    list_page,
)
from tests.monitoring.fake.server import CloudState, Empty, rpc, service_handler

METRIC_NAME = re.compile(r"^[A-Za-z0-9_\-.,+!*'()%][A-Za-z0-9_\-.,+!*'()%/]{0,99}$")
DISTRIBUTION = 5  # MetricDescriptor.ValueType.DISTRIBUTION


class LoggingMetricsApi:
    def __init__(self, state: CloudState) -> None:
        self.state = state
        self.metrics: dict[str, Any] = {}  # by full name projects/NUMBER/metrics/NAME

    def metric_types(self) -> list[str]:
        return [f"logging.googleapis.com/user/{metric.name}" for metric in self.metrics.values()]

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        methods = [
            rpc(types, "ListLogMetrics", self.list, types.ListLogMetricsResponse),
            rpc(types, "CreateLogMetric", self.create, types.LogMetric),
            rpc(types, "UpdateLogMetric", self.update, types.LogMetric),
            rpc(types, "DeleteLogMetric", self.delete, Empty),
        ]
        return [service_handler("google.logging.v2.MetricsServiceV2", methods, self.state)]

    def list(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        response = types.ListLogMetricsResponse
        return list_page(self.state, self.metrics, request.parent, request, response, "metrics")

    def create(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        full_name = self.state.numbered(f"{request.parent}/metrics/{request.metric.name}")
        if full_name in self.metrics:
            raise already_exists(full_name)
        metric = copy_of(request.metric)
        metric.create_time.CopyFrom(self.state.now())
        self.state.log_metric_created(f"logging.googleapis.com/user/{metric.name}")
        return self._store(full_name, metric)

    def update(self, request: Any) -> Any:
        parent, _, name = request.metric_name.partition("/metrics/")
        self.state.check_parent(parent)
        if request.metric.name != name:
            raise invalid(f"metric.name {request.metric.name!r} differs from {request.metric_name}")
        metric = copy_of(request.metric)
        full_name = self.state.numbered(request.metric_name)
        current = self.metrics.get(full_name)
        if current is not None:
            was, now = current.metric_descriptor, metric.metric_descriptor
            if (was.metric_kind, was.value_type) != (now.metric_kind, now.value_type):
                raise invalid("the metric kind and value type of a metric cannot be changed")
            metric.create_time.CopyFrom(current.create_time)
        else:
            metric.create_time.CopyFrom(self.state.now())
            self.state.log_metric_created(f"logging.googleapis.com/user/{metric.name}")
        return self._store(full_name, metric)

    def delete(self, request: Any) -> Any:
        return delete_named(self.state, self.metrics, request.metric_name)

    def _store(self, full_name: str, metric: Any) -> Any:
        if not METRIC_NAME.match(metric.name):
            raise invalid(f"metric name {metric.name!r} is not valid")
        if not metric.filter:
            raise invalid("filter is required")
        descriptor = metric.metric_descriptor
        if descriptor.value_type == DISTRIBUTION and (
            not metric.value_extractor or not metric.HasField("bucket_options")
        ):
            raise invalid("a DISTRIBUTION metric needs value_extractor and bucket_options")
        declared = {label.key for label in descriptor.labels}
        for key in metric.label_extractors:
            if key not in declared:
                raise invalid(f"label_extractors[{key!r}] is not a label of the metric descriptor")
        metric_type = f"logging.googleapis.com/user/{metric.name}"
        project = full_name.split("/metrics/")[0]
        descriptor.name = f"{project}/metricDescriptors/{metric_type}"
        descriptor.type = metric_type
        descriptor.display_name = descriptor.display_name or metric.name
        metric.update_time.CopyFrom(self.state.now())
        self.metrics[full_name] = metric
        return copy_of(metric)

"""In-memory Cloud Monitoring, Dashboards and Logging-metrics APIs over gRPC on 127.0.0.1."""

from __future__ import annotations

import grpc

from tests.monitoring.fake.alerting_api import AlertingApi
from tests.monitoring.fake.dashboards_api import DashboardsApi
from tests.monitoring.fake.logging_api import LoggingMetricsApi
from tests.monitoring.fake.server import FakeServer
from tests.monitoring.fake.service_monitoring_api import ServiceMonitoringApi
from tests.monitoring.fake.uptime_api import UptimeApi


class FakeGoogleCloud(FakeServer):
    """Every API the toolkit uses, on one port. The stores are public for assertions:
    `alerting.policies`, `alerting.channels`, `uptime.checks`, `service_monitoring.services`,
    `service_monitoring.slos`, `dashboards.dashboards`, `logging.metrics`."""

    def __init__(self, project: str) -> None:
        super().__init__(project)
        self.service_monitoring = ServiceMonitoringApi(self.state)
        self.logging = LoggingMetricsApi(self.state)
        self.alerting = AlertingApi(
            self.state,
            slo_exists=self.service_monitoring.slos.__contains__,
            log_metric_types=self.logging.metric_types,
        )
        self.uptime = UptimeApi(self.state)
        self.dashboards = DashboardsApi(self.state)

    def echo_project_number(self, number: bool) -> None:
        """Write names back with the project number (as Google may) or with the project id;
        what is stored already is renamed accordingly."""
        self.state.echo_project_number = number
        stores = (
            self.alerting.policies,
            self.alerting.channels,
            self.uptime.checks,
            self.service_monitoring.services,
            self.service_monitoring.slos,
            self.dashboards.dashboards,
            self.logging.metrics,
        )
        for store in stores:
            items = list(store.items())
            store.clear()
            for name, message in items:
                if message.name == name:
                    message.name = self.state.numbered(name)
                store[self.state.numbered(name)] = message

    def api_handlers(self) -> list[grpc.GenericRpcHandler]:
        apis = (self.service_monitoring, self.alerting, self.uptime, self.dashboards, self.logging)
        return [handler for api in apis for handler in api.handlers()]


__all__ = ["FakeGoogleCloud"]

"""Build the official API clients: Application Default Credentials against Google, or an
insecure gRPC channel with anonymous credentials against a local server (--endpoint).

Each kind names its client class and gRPC transport (kinds/); `Clients.get` makes one client
of each class, on first use, all sharing the one channel.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import monitoring_dashboard_v1, monitoring_v3
from google.cloud.logging_v2.services.metrics_service_v2 import MetricsServiceV2Client
from google.cloud.logging_v2.services.metrics_service_v2.transports import (
    MetricsServiceV2GrpcTransport,
)
from google.cloud.monitoring_dashboard_v1.services.dashboards_service.transports import (
    DashboardsServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
    AlertPolicyServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.notification_channel_service.transports import (
    NotificationChannelServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.service_monitoring_service.transports import (
    ServiceMonitoringServiceGrpcTransport,
)
from google.cloud.monitoring_v3.services.uptime_check_service.transports import (
    UptimeCheckServiceGrpcTransport,
)


class Clients:
    """The clients of one run; with a channel, every client talks over it."""

    def __init__(self, channel: grpc.Channel | None = None) -> None:
        self.channel = channel
        self._made: dict[type, Any] = {}

    def get(self, client_type: type, transport_type: type) -> Any:
        if client_type not in self._made:
            if self.channel is None:
                self._made[client_type] = client_type()
            else:
                transport = transport_type(channel=self.channel, credentials=AnonymousCredentials())
                self._made[client_type] = client_type(transport=transport)
        return self._made[client_type]

    @property
    def notification_channels(self) -> monitoring_v3.NotificationChannelServiceClient:
        return self.get(
            monitoring_v3.NotificationChannelServiceClient, NotificationChannelServiceGrpcTransport
        )

    # The clients by name, for tests that seed objects "by hand".
    @property
    def alert_policies(self) -> monitoring_v3.AlertPolicyServiceClient:
        return self.get(monitoring_v3.AlertPolicyServiceClient, AlertPolicyServiceGrpcTransport)

    @property
    def uptime_checks(self) -> monitoring_v3.UptimeCheckServiceClient:
        return self.get(monitoring_v3.UptimeCheckServiceClient, UptimeCheckServiceGrpcTransport)

    @property
    def service_monitoring(self) -> monitoring_v3.ServiceMonitoringServiceClient:
        return self.get(
            monitoring_v3.ServiceMonitoringServiceClient, ServiceMonitoringServiceGrpcTransport
        )

    @property
    def dashboards(self) -> monitoring_dashboard_v1.DashboardsServiceClient:
        return self.get(
            monitoring_dashboard_v1.DashboardsServiceClient, DashboardsServiceGrpcTransport
        )

    @property
    def log_metrics(self) -> MetricsServiceV2Client:
        return self.get(MetricsServiceV2Client, MetricsServiceV2GrpcTransport)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


def build_clients(endpoint: str | None = None) -> Clients:
    """Real clients; with `endpoint` (HOST:PORT) they talk plain gRPC to that server."""
    return Clients(grpc.insecure_channel(endpoint) if endpoint is not None else None)

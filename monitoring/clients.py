"""Build the official API clients: Application Default Credentials against Google, or an
insecure gRPC channel with anonymous credentials against a local server (--endpoint)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class Clients:
    alert_policies: monitoring_v3.AlertPolicyServiceClient
    notification_channels: monitoring_v3.NotificationChannelServiceClient
    uptime_checks: monitoring_v3.UptimeCheckServiceClient
    service_monitoring: monitoring_v3.ServiceMonitoringServiceClient
    dashboards: monitoring_dashboard_v1.DashboardsServiceClient
    log_metrics: MetricsServiceV2Client
    channel: grpc.Channel | None = None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


def build_clients(endpoint: str | None = None) -> Clients:
    """Real clients; with `endpoint` (HOST:PORT) they talk plain gRPC to that server."""
    if endpoint is None:
        return Clients(
            monitoring_v3.AlertPolicyServiceClient(),
            monitoring_v3.NotificationChannelServiceClient(),
            monitoring_v3.UptimeCheckServiceClient(),
            monitoring_v3.ServiceMonitoringServiceClient(),
            monitoring_dashboard_v1.DashboardsServiceClient(),
            MetricsServiceV2Client(),
        )
    channel = grpc.insecure_channel(endpoint)
    anonymous = AnonymousCredentials()

    def transport(kind: type) -> object:
        return kind(channel=channel, credentials=anonymous)

    return Clients(
        monitoring_v3.AlertPolicyServiceClient(
            transport=transport(AlertPolicyServiceGrpcTransport)
        ),
        monitoring_v3.NotificationChannelServiceClient(
            transport=transport(NotificationChannelServiceGrpcTransport)
        ),
        monitoring_v3.UptimeCheckServiceClient(
            transport=transport(UptimeCheckServiceGrpcTransport)
        ),
        monitoring_v3.ServiceMonitoringServiceClient(
            transport=transport(ServiceMonitoringServiceGrpcTransport)
        ),
        monitoring_dashboard_v1.DashboardsServiceClient(
            transport=transport(DashboardsServiceGrpcTransport)
        ),
        MetricsServiceV2Client(transport=transport(MetricsServiceV2GrpcTransport)),
        channel,
    )

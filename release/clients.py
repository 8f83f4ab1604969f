"""The official clients: Application Default Credentials against Google, or plain gRPC with
anonymous credentials against a local server (--endpoint HOST:PORT, for tests)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import monitoring_v3, run_v2
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)
from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport


@dataclass
class Clients:
    services: run_v2.ServicesClient
    metrics: monitoring_v3.MetricServiceClient
    channel: grpc.Channel | None = None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


def build_clients(endpoint: str | None = None) -> Clients:
    """Real clients; with `endpoint` both talk plain gRPC to that one local server (the
    long-running operations of run_v2 are polled on the same channel)."""
    if endpoint is None:
        return Clients(run_v2.ServicesClient(), monitoring_v3.MetricServiceClient())
    channel = grpc.insecure_channel(endpoint)
    anonymous = AnonymousCredentials()
    return Clients(
        run_v2.ServicesClient(
            transport=ServicesGrpcTransport(channel=channel, credentials=anonymous)
        ),
        monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel, credentials=anonymous)
        ),
        channel,
    )

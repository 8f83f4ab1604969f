"""Custom services (google.monitoring.v3 ServiceMonitoringService), generated from slo/ and
slo_alerts.yaml. The toolkit chooses the id; the API may write the name back with the project
number, so a service is matched on its id (the last segment), as google/slo-generator does."""

from __future__ import annotations

from typing import Any

from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.service_monitoring_service.transports import (
    ServiceMonitoringServiceGrpcTransport,
)

from monitoring.kinds.base import ApiContext, Kind, field_mask, unnamed
from monitoring.resources import Desired, Existing

CLIENT = (monitoring_v3.ServiceMonitoringServiceClient, ServiceMonitoringServiceGrpcTransport)


def _list(ctx: ApiContext, parents: Any) -> Any:
    return ctx.client(SERVICE).list_services(parent=ctx.parent, **ctx.options)


def _create(ctx: ApiContext, desired: Desired) -> Any:
    message = unnamed(desired.message)
    request = {"parent": ctx.parent, "service_id": desired.config_id, "service": message}
    return ctx.client(SERVICE).create_service(request=request, **ctx.options)


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    request = {"service": desired.message, "update_mask": field_mask(mask)}
    return ctx.client(SERVICE).update_service(request=request, **ctx.options)


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(SERVICE).delete_service(name=existing.name, **ctx.options)


SERVICE = Kind(
    value="service",
    order=1,
    message_type=monitoring_v3.Service,
    client=CLIENT,
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    named=True,
)

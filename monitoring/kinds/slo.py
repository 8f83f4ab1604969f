"""Service-level objectives (google.monitoring.v3 ServiceMonitoringService), generated from
slo/. Listed under their service; matched on "service id/SLO id", never on the full name,
which the API may write back with the project number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud import monitoring_v3

from monitoring.kinds.base import ApiContext, Kind, field_mask, unnamed
from monitoring.kinds.service import CLIENT
from monitoring.resources import Desired, Existing


def _list(ctx: ApiContext, parents: Sequence[str]) -> Any:
    client = ctx.client(SLO)
    return [
        found
        for service in parents
        for found in client.list_service_level_objectives(parent=service, **ctx.options)
    ]


def _create(ctx: ApiContext, desired: Desired) -> Any:
    message = unnamed(desired.message)
    request = {
        "parent": desired.parent,
        "service_level_objective_id": desired.config_id,
        "service_level_objective": message,
    }
    return ctx.client(SLO).create_service_level_objective(request=request, **ctx.options)


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    request = {"service_level_objective": desired.message, "update_mask": field_mask(mask)}
    return ctx.client(SLO).update_service_level_objective(request=request, **ctx.options)


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(SLO).delete_service_level_objective(name=existing.name, **ctx.options)


class _SloKind(Kind):
    def own_id(self, name: str) -> str:
        parts = name.split("/")  # projects/P/services/S/serviceLevelObjectives/O
        return f"{parts[3]}/{parts[5]}" if len(parts) >= 6 else parts[-1]


SLO = _SloKind(
    value="slo",
    order=2,
    message_type=monitoring_v3.ServiceLevelObjective,
    client=CLIENT,
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    named=True,
    lists_under_parents=True,
)

"""Dashboards (google.monitoring.dashboard.v1 DashboardsService), one per dashboards/*.yaml.

The API names them (under the project number); they are found again by their config-id label.
An update carries the etag read with the dashboard: the API refuses a stale or missing one
(ABORTED), so a concurrent edit is never overwritten silently.
"""

from __future__ import annotations

from typing import Any

from google.cloud import monitoring_dashboard_v1
from google.cloud.monitoring_dashboard_v1.services.dashboards_service.transports import (
    DashboardsServiceGrpcTransport,
)

from monitoring.errors import ConfigError
from monitoring.kinds.base import ApiContext, Checks, Kind, YamlSource, field_error
from monitoring.resources import Desired, Existing

COLUMNS = 48


def _list(ctx: ApiContext, parents: Any) -> Any:
    return ctx.client(DASHBOARD).list_dashboards(parent=ctx.parent, **ctx.options)


def _create(ctx: ApiContext, desired: Desired) -> Any:
    request = {"parent": ctx.parent, "dashboard": desired.message}
    return ctx.client(DASHBOARD).create_dashboard(request=request, **ctx.options)


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    message = type(desired.message)(desired.message)
    message.etag = existing.message.etag  # UpdateDashboard has no mask: the whole dashboard
    return ctx.client(DASHBOARD).update_dashboard(request={"dashboard": message}, **ctx.options)


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(DASHBOARD).delete_dashboard(name=existing.name, **ctx.options)


def _validate(item: Desired, body: dict[str, Any], checks: Checks) -> list[ConfigError]:
    layout = body.get("mosaicLayout")
    if layout is None:
        reason = "is required (the toolkit's dashboards use a mosaic)"
        return [field_error(item, "mosaicLayout", reason)]
    columns = layout.get("columns", 0)
    errors = []
    if columns != COLUMNS:
        errors.append(field_error(item, "mosaicLayout.columns", f"must be 48, got {columns}"))
    taken: dict[tuple[int, int], int] = {}
    for index, tile in enumerate(layout.get("tiles", [])):
        x, y = tile.get("xPos", 0), tile.get("yPos", 0)
        width, height = tile.get("width", 0), tile.get("height", 0)
        where = f"mosaicLayout.tiles[{index}]"
        if width <= 0 or height <= 0 or x + width > columns:
            reason = f"x {x} + width {width} must fit {columns} columns"
            errors.append(field_error(item, where, reason))
            continue
        cells = [(cx, cy) for cx in range(x, x + width) for cy in range(y, y + height)]
        overlapped = {taken[cell] for cell in cells if cell in taken}
        if overlapped:
            errors.append(field_error(item, where, f"overlaps tiles[{min(overlapped)}]"))
        taken.update(dict.fromkeys(cells, index))
    return errors


DASHBOARD = Kind(
    value="dashboard",
    order=5,
    message_type=monitoring_dashboard_v1.Dashboard,
    client=(monitoring_dashboard_v1.DashboardsServiceClient, DashboardsServiceGrpcTransport),
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    source=YamlSource("dashboards/*.yaml", None, "dashboard"),
    label_field="labels",
    validate=_validate,
)

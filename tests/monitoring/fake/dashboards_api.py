"""google.monitoring.dashboard.v1.DashboardsService.

Documented behaviour reproduced: names under the project *number*
(projects/NUMBER/dashboards/ID) whatever the parent said; a new etag on every write; an update
whose etag is not the current one fails with ABORTED, and so does one without an etag (the
Dashboard reference: "users are expected to put that etag in the request to UpdateDashboard";
an empty one is refused, /work/shared/reference.md; a client that always sends the etag it
read works either way); a mosaic of 1
to 48 columns whose tiles fit inside it; chart defaults filled in by the server (chart mode,
plot type, target axis, time shift), which a client must not mistake for changes.
"""

from __future__ import annotations

import secrets
from typing import Any

import grpc
from google.cloud import monitoring_dashboard_v1 as dashboards

from tests.monitoring.fake.common import copy_of, delete_named, invalid, list_page, not_found
from tests.monitoring.fake.server import Abort, CloudState, Empty, rpc, service_handler


class DashboardsApi:
    def __init__(self, state: CloudState) -> None:
        self.state = state
        self.dashboards: dict[str, Any] = {}

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        d = dashboards
        methods = [
            rpc(d, "ListDashboards", self.list, d.ListDashboardsResponse),
            rpc(d, "CreateDashboard", self.create, d.Dashboard),
            rpc(d, "UpdateDashboard", self.update, d.Dashboard),
            rpc(d, "DeleteDashboard", self.delete, Empty),
        ]
        service = "google.monitoring.dashboard.v1.DashboardsService"
        return [service_handler(service, methods, self.state)]

    def list(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        response = dashboards.ListDashboardsResponse
        return list_page(
            self.state, self.dashboards, request.parent, request, response, "dashboards"
        )

    def create(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        if request.dashboard.etag:
            raise invalid("etag must not be set when creating a dashboard")
        dashboard = copy_of(request.dashboard)
        dashboard.name = self.state.numbered(f"{request.parent}/dashboards/{secrets.token_hex(8)}")
        return self._store(dashboard)

    def update(self, request: Any) -> Any:
        current = self.dashboards.get(self.state.numbered(request.dashboard.name))
        if current is None:
            raise not_found(request.dashboard.name)
        if request.dashboard.etag != current.etag:
            message = f"etag {request.dashboard.etag!r} is stale: the dashboard changed since"
            raise Abort(grpc.StatusCode.ABORTED, message)
        return self._store(copy_of(request.dashboard))

    def delete(self, request: Any) -> Any:
        return delete_named(self.state, self.dashboards, request.name)

    def _store(self, dashboard: Any) -> Any:
        if not dashboard.display_name:
            raise invalid("dashboard.display_name is required")
        if dashboard.WhichOneof("layout") == "mosaic_layout":
            _check_mosaic(dashboard.mosaic_layout)
        for widget in _widgets(dashboard):
            _fill_defaults(widget)
        dashboard.etag = secrets.token_hex(16)
        self.dashboards[dashboard.name] = dashboard
        return copy_of(dashboard)


def _check_mosaic(layout: Any) -> None:
    if not 1 <= layout.columns <= 48:
        raise invalid(f"mosaicLayout.columns must be between 1 and 48, got {layout.columns}")
    for index, tile in enumerate(layout.tiles):
        if tile.width <= 0 or tile.height <= 0 or tile.x_pos + tile.width > layout.columns:
            raise invalid(f"mosaicLayout.tiles[{index}] does not fit {layout.columns} columns")


def _widgets(dashboard: Any) -> list[Any]:
    if dashboard.WhichOneof("layout") == "mosaic_layout":
        return [tile.widget for tile in dashboard.mosaic_layout.tiles]
    return []


def _fill_defaults(widget: Any) -> None:
    """What the API adds to a chart it is given (as seen on dashboards read back)."""
    if widget.WhichOneof("content") != "xy_chart":
        return
    chart = widget.xy_chart
    if chart.chart_options.mode == 0:
        chart.chart_options.mode = 1  # COLOR
    if not chart.HasField("timeshift_duration"):
        chart.timeshift_duration.SetInParent()  # "0s"
    for data_set in chart.data_sets:
        data_set.plot_type = data_set.plot_type or 1  # LINE
        data_set.target_axis = data_set.target_axis or 1  # Y1
    for threshold in chart.thresholds:
        threshold.target_axis = threshold.target_axis or 1  # Y1

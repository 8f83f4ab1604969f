"""google.monitoring.v3 UptimeCheckService.

Documented behaviour reproduced: server-assigned names; period 60s by default and one of 60,
300, 600 or 900 s; a timeout of 1 to 60 s; the supported monitored resource types; HTTP
defaults (port 443 with SSL, else 80; GET); static-IP checkers by default; names written back
under the project number (projects/[PROJECT_ID_OR_NUMBER]/uptimeCheckConfigs/...); update masks
naming only the fields the API can update (UpdateUptimeCheckConfigRequest: "display_name,
http_check, tcp_check, timeout, content_matchers, and selected_regions"; user_labels, added to
the message later, is accepted too, an assumption), so the monitored resource and the period
cannot change in an update.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.cloud import monitoring_v3 as m

from tests.monitoring.fake.common import (
    check_user_labels,
    copy_of,
    delete_named,
    invalid,
    list_page,
    masked_update,
    not_found,
    seconds,
)
from tests.monitoring.fake.server import CloudState, Empty, rpc, service_handler

RESOURCE_TYPES = {
    "uptime_url", "gce_instance", "gae_app", "aws_ec2_instance", "aws_elb_load_balancer",
    "k8s_service", "servicedirectory_service", "cloud_run_revision",
}  # fmt: skip
GET, STATIC_IP_CHECKERS = 1, 1
UPDATABLE = {
    "display_name", "http_check", "tcp_check", "timeout", "content_matchers",
    "selected_regions", "user_labels",
}  # fmt: skip


class UptimeApi:
    def __init__(self, state: CloudState) -> None:
        self.state = state
        self.checks: dict[str, Any] = {}

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        methods = [
            rpc(m, "ListUptimeCheckConfigs", self.list, m.ListUptimeCheckConfigsResponse),
            rpc(m, "CreateUptimeCheckConfig", self.create, m.UptimeCheckConfig),
            rpc(m, "UpdateUptimeCheckConfig", self.update, m.UptimeCheckConfig),
            rpc(m, "DeleteUptimeCheckConfig", self.delete, Empty),
        ]
        return [service_handler("google.monitoring.v3.UptimeCheckService", methods, self.state)]

    def list(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        response, field = m.ListUptimeCheckConfigsResponse, "uptime_check_configs"
        return list_page(self.state, self.checks, request.parent, request, response, field)

    def create(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        check = copy_of(request.uptime_check_config)
        slug = re.sub(r"[^a-z0-9]+", "-", check.display_name.lower()).strip("-")[:40]
        check.name = self.state.numbered(
            f"{request.parent}/uptimeCheckConfigs/{slug}-{self.state.new_id()}"
        )
        return self._store(check)

    def update(self, request: Any) -> Any:
        incoming = request.uptime_check_config
        current = self.checks.get(self.state.numbered(incoming.name))
        if current is None:
            raise not_found(incoming.name)
        paths = list(request.update_mask.paths)
        fixed = sorted({path.split(".")[0] for path in paths} - UPDATABLE)
        if fixed:
            raise invalid(f"update_mask: {', '.join(fixed)} cannot be updated")
        updated = masked_update(current, incoming, paths, ("name",))
        if updated.monitored_resource != current.monitored_resource:
            raise invalid("the monitored resource of an uptime check cannot be changed")
        return self._store(updated)

    def delete(self, request: Any) -> Any:
        return delete_named(self.state, self.checks, request.name)

    def _store(self, check: Any) -> Any:
        if not check.display_name:
            raise invalid("display_name is required")
        if not 1 <= seconds(check.timeout) <= 60:
            raise invalid("timeout is required, between 1 and 60 seconds")
        if not check.HasField("period"):
            check.period.seconds = 60
        if seconds(check.period) not in (60, 300, 600, 900):
            raise invalid("period must be 60s, 300s, 600s or 900s")
        resource = check.monitored_resource.type
        if check.WhichOneof("resource") == "monitored_resource" and resource not in RESOURCE_TYPES:
            raise invalid(f"monitored resource type {resource!r} is not supported")
        if check.HasField("http_check"):
            http = check.http_check
            http.port = http.port or (443 if http.use_ssl else 80)
            http.request_method = http.request_method or GET
        check.checker_type = check.checker_type or STATIC_IP_CHECKERS
        check_user_labels(check.user_labels)
        self.checks[check.name] = check
        return copy_of(check)

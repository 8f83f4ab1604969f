"""google.monitoring.v3 ServiceMonitoringService: services and their SLOs.

Documented behaviour reproduced: ids chosen by the caller ([a-z0-9-]+ for services); names
written back under the project *number* whichever form the request used (the API reference:
projects/[PROJECT_ID_OR_NUMBER]/services/...; google/slo-generator matches on the last segment
for this reason); ALREADY_EXISTS on a second create; NOT_FOUND for SLOs of a missing service;
deleting a service deletes its SLOs; goals 0 < goal <= 0.9999; rolling periods of whole days up
to 30; good_total_ratio with exactly two of the good/bad/total filters; update masks.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.cloud import monitoring_v3 as m

from tests.monitoring.fake.common import (
    already_exists,
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

SERVICE_ID = re.compile(r"^[a-z0-9\-]+$")
SLO_ID = re.compile(r"^[a-zA-Z0-9\-_:.]+$")
DAY_SECONDS = 86400
MAX_GOAL = 0.9999  # the API's own bound (current reference); the toolkit's stricter one is slo/'s


class ServiceMonitoringApi:
    def __init__(self, state: CloudState) -> None:
        self.state = state
        self.services: dict[str, Any] = {}
        self.slos: dict[str, Any] = {}

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        slo = m.ServiceLevelObjective
        methods = [
            rpc(m, "ListServices", self.list_services, m.ListServicesResponse),
            rpc(m, "CreateService", self.create_service, m.Service),
            rpc(m, "UpdateService", self.update_service, m.Service),
            rpc(m, "DeleteService", self.delete_service, Empty),
            rpc(
                m,
                "ListServiceLevelObjectives",
                self.list_slos,
                m.ListServiceLevelObjectivesResponse,
            ),
            rpc(m, "CreateServiceLevelObjective", self.create_slo, slo),
            rpc(m, "UpdateServiceLevelObjective", self.update_slo, slo),
            rpc(m, "DeleteServiceLevelObjective", self.delete_slo, Empty),
        ]
        return [
            service_handler("google.monitoring.v3.ServiceMonitoringService", methods, self.state)
        ]

    def list_services(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        response = m.ListServicesResponse
        return list_page(self.state, self.services, request.parent, request, response, "services")

    def create_service(self, request: Any) -> Any:
        self.state.check_parent(request.parent)
        service_id = request.service_id or self.state.new_id()
        if not SERVICE_ID.match(service_id):
            raise invalid(f"service_id {service_id!r} must match [a-z0-9-]+")
        service = copy_of(request.service)
        service.name = self.state.numbered(f"{request.parent}/services/{service_id}")
        if service.name in self.services:
            raise already_exists(service.name)
        return self._store_service(service)

    def update_service(self, request: Any) -> Any:
        current = self.services.get(self.state.numbered(request.service.name))
        if current is None:
            raise not_found(request.service.name)
        paths = list(request.update_mask.paths)
        return self._store_service(masked_update(current, request.service, paths, ("name",)))

    def delete_service(self, request: Any) -> Any:
        result = delete_named(self.state, self.services, request.name)
        service = self.state.numbered(request.name)
        for name in [name for name in self.slos if name.startswith(f"{service}/")]:
            del self.slos[name]
        return result

    def _store_service(self, service: Any) -> Any:
        check_user_labels(service.user_labels)
        self.services[service.name] = service
        return copy_of(service)

    def list_slos(self, request: Any) -> Any:
        if self.state.numbered(request.parent) not in self.services:
            raise not_found(request.parent)
        response, field = m.ListServiceLevelObjectivesResponse, "service_level_objectives"
        return list_page(self.state, self.slos, request.parent, request, response, field)

    def create_slo(self, request: Any) -> Any:
        if self.state.numbered(request.parent) not in self.services:
            raise not_found(request.parent)
        slo_id = request.service_level_objective_id or self.state.new_id()
        if not SLO_ID.match(slo_id):
            raise invalid(f"service_level_objective_id {slo_id!r} is not valid")
        slo = copy_of(request.service_level_objective)
        slo.name = self.state.numbered(f"{request.parent}/serviceLevelObjectives/{slo_id}")
        if slo.name in self.slos:
            raise already_exists(slo.name)
        return self._store_slo(slo)

    def update_slo(self, request: Any) -> Any:
        incoming = request.service_level_objective
        current = self.slos.get(self.state.numbered(incoming.name))
        if current is None:
            raise not_found(incoming.name)
        paths = list(request.update_mask.paths)
        return self._store_slo(masked_update(current, incoming, paths, ("name",)))

    def delete_slo(self, request: Any) -> Any:
        return delete_named(self.state, self.slos, request.name)

    def _store_slo(self, slo: Any) -> Any:
        if not 0 < slo.goal <= MAX_GOAL:
            raise invalid(f"goal {slo.goal} must satisfy 0 < goal <= {MAX_GOAL}")
        period = slo.WhichOneof("period")
        if period is None:
            raise invalid("a rolling_period or a calendar_period is required")
        if period == "rolling_period":
            days = seconds(slo.rolling_period) / DAY_SECONDS
            if days != int(days) or not 1 <= days <= 30:
                raise invalid("rolling_period must be a whole number of days, at most 30")
        request_based = slo.service_level_indicator.request_based
        if request_based.WhichOneof("method") == "good_total_ratio":
            ratio = request_based.good_total_ratio
            filters = (
                ratio.good_service_filter,
                ratio.bad_service_filter,
                ratio.total_service_filter,
            )
            if sum(bool(f) for f in filters) != 2:
                raise invalid("good_total_ratio needs exactly two of good, bad and total filters")
        check_user_labels(slo.user_labels)
        self.slos[slo.name] = slo
        return copy_of(slo)

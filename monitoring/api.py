"""The calls the toolkit makes, per kind of object, with API errors turned into ApiError.

Two kinds of failure are waited out with the client library's own retry support
(google.api_core.retry.Retry), within bounds:
- transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) on every call, for at
  most TRANSIENT_LIMIT_SECONDS;
- on create and update, NOT_FOUND for a log-based metric that Cloud Monitoring does not know
  yet: a metric created moments earlier takes "up to 10 minutes" to appear
  (hashicorp/terraform-provider-google#11102), so the call is retried with backoff for at most
  MetricWait.limit_seconds (10 minutes by default), printing what it waits for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core import exceptions
from google.api_core import retry as retries
from google.protobuf import field_mask_pb2

from monitoring.clients import Clients
from monitoring.errors import ApiError
from monitoring.identity import Kind
from monitoring.resources import Desired, Existing

TIMEOUT_SECONDS = 60.0
TRANSIENT_LIMIT_SECONDS = 300.0
METRIC_WAIT_SECONDS = 600.0
T = TypeVar("T")

TRANSIENT = retries.Retry(
    predicate=retries.if_exception_type(
        exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.ResourceExhausted
    ),
    initial=1.0,
    maximum=30.0,
    multiplier=2.0,
    timeout=TRANSIENT_LIMIT_SECONDS,
)
_UNKNOWN_METRIC = re.compile(r'[Cc]annot find metric\(s\) that match type = \\?"?([^"\\ ]+)')


@dataclass(frozen=True)
class MetricWait:
    """How long create/update wait for a new log-based metric to become known."""

    limit_seconds: float = METRIC_WAIT_SECONDS
    initial_seconds: float = 2.0
    report: Callable[[str], None] = lambda line: None


def unknown_metric(error: Exception) -> str | None:
    """The metric type a NOT_FOUND is about when it is Monitoring's "not known yet" refusal."""
    if not isinstance(error, exceptions.NotFound):
        return None
    found = _UNKNOWN_METRIC.search(str(error.message))
    if found:
        return found.group(1)
    return "a new log-based metric" if "logging.googleapis.com/user/" in str(error) else None


class ProjectApi:
    """List, create, update and delete the toolkit's kinds of objects in one project."""

    def __init__(self, clients: Clients, project: str, wait: MetricWait | None = None) -> None:
        self.clients = clients
        self.project = project
        self.parent = f"projects/{project}"
        self.wait = wait or MetricWait()

    def _waiting(self, label: str, call: Callable[[], T]) -> Callable[[], T]:
        """`call`, retried while the metric it names has not appeared yet."""
        wait = self.wait

        def on_error(error: Exception) -> None:
            wait.report(
                f"waiting    {label}: {unknown_metric(error)} is not known to Cloud Monitoring "
                f"yet (new log-based metrics take up to 10 minutes); retrying for at most "
                f"{wait.limit_seconds:g}s"
            )

        retry = retries.Retry(
            predicate=lambda error: unknown_metric(error) is not None,
            initial=wait.initial_seconds,
            maximum=60.0,
            multiplier=2.0,
            timeout=wait.limit_seconds,
            on_error=on_error,
        )
        return retry(call)

    def notification_channels(self) -> dict[str, list[str]]:
        """Display name -> resource names of the project's notification channels."""
        channels: dict[str, list[str]] = {}
        found = _call(
            f"list notification channels of {self.parent}",
            lambda: list(
                self.clients.notification_channels.list_notification_channels(
                    name=self.parent, timeout=TIMEOUT_SECONDS, retry=TRANSIENT
                )
            ),
        )
        for channel in found:
            channels.setdefault(channel.display_name, []).append(channel.name)
        return channels

    def list(self, kind: Kind, parents: Iterable[str] = ()) -> list[Any]:
        """Every object of a kind (SLOs: under the given service names)."""
        c, parent, timeout = self.clients, self.parent, TIMEOUT_SECONDS
        listers: dict[Kind, Callable[[], Iterable[Any]]] = {
            Kind.LOG_METRIC: lambda: c.log_metrics.list_log_metrics(
                parent=parent, timeout=timeout, retry=TRANSIENT
            ),
            Kind.SERVICE: lambda: c.service_monitoring.list_services(
                parent=parent, timeout=timeout, retry=TRANSIENT
            ),
            Kind.UPTIME_CHECK: lambda: c.uptime_checks.list_uptime_check_configs(
                parent=parent, timeout=timeout, retry=TRANSIENT
            ),
            Kind.ALERT_POLICY: lambda: c.alert_policies.list_alert_policies(
                name=parent, timeout=timeout, retry=TRANSIENT
            ),
            Kind.DASHBOARD: lambda: c.dashboards.list_dashboards(
                parent=parent, timeout=timeout, retry=TRANSIENT
            ),
        }
        if kind is Kind.SLO:
            found: list[Any] = []
            for service in parents:
                found += _call(
                    f"list SLOs of {service}",
                    lambda service=service: list(
                        c.service_monitoring.list_service_level_objectives(
                            parent=service, timeout=timeout, retry=TRANSIENT
                        )
                    ),
                )
            return found
        return _call(f"list {kind.value}s of {parent}", lambda: list(listers[kind]()))

    def create(self, desired: Desired) -> Any:
        c, parent, timeout = self.clients, self.parent, TIMEOUT_SECONDS
        message = type(desired.message)(desired.message)
        if desired.kind in (Kind.SERVICE, Kind.SLO):
            message.name = ""  # the id is passed separately and the API names the object
        creators: dict[Kind, Callable[[], Any]] = {
            Kind.LOG_METRIC: lambda: c.log_metrics.create_log_metric(
                parent=parent, metric=message, timeout=timeout, retry=TRANSIENT
            ),
            Kind.SERVICE: lambda: c.service_monitoring.create_service(
                request={"parent": parent, "service_id": desired.config_id, "service": message},
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.SLO: lambda: c.service_monitoring.create_service_level_objective(
                request={
                    "parent": desired.parent,
                    "service_level_objective_id": desired.config_id,
                    "service_level_objective": message,
                },
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.UPTIME_CHECK: lambda: c.uptime_checks.create_uptime_check_config(
                parent=parent, uptime_check_config=message, timeout=timeout, retry=TRANSIENT
            ),
            Kind.ALERT_POLICY: lambda: c.alert_policies.create_alert_policy(
                name=parent, alert_policy=message, timeout=timeout, retry=TRANSIENT
            ),
            Kind.DASHBOARD: lambda: c.dashboards.create_dashboard(
                request={"parent": parent, "dashboard": message}, timeout=timeout, retry=TRANSIENT
            ),
        }
        label = f"create {desired.label}"
        return _call(label, self._waiting(label, creators[desired.kind]))

    def update(self, existing: Existing, desired: Desired, mask: list[str]) -> Any:
        """Replace the fields in `mask` (log metrics and dashboards: the whole object)."""
        c, timeout = self.clients, TIMEOUT_SECONDS
        message = type(desired.message)(desired.message)
        message.name = existing.name
        update_mask = field_mask_pb2.FieldMask(paths=mask)
        if desired.kind is Kind.DASHBOARD:
            message.etag = existing.message.etag  # the API refuses a stale etag (ABORTED)
        updaters: dict[Kind, Callable[[], Any]] = {
            Kind.LOG_METRIC: lambda: c.log_metrics.update_log_metric(
                metric_name=f"{self.parent}/metrics/{existing.name}",
                metric=message,
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.SERVICE: lambda: c.service_monitoring.update_service(
                request={"service": message, "update_mask": update_mask},
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.SLO: lambda: c.service_monitoring.update_service_level_objective(
                request={"service_level_objective": message, "update_mask": update_mask},
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.UPTIME_CHECK: lambda: c.uptime_checks.update_uptime_check_config(
                request={"uptime_check_config": message, "update_mask": update_mask},
                timeout=timeout,
                retry=TRANSIENT,
            ),
            Kind.ALERT_POLICY: lambda: c.alert_policies.update_alert_policy(
                alert_policy=message, update_mask=update_mask, timeout=timeout, retry=TRANSIENT
            ),
            Kind.DASHBOARD: lambda: c.dashboards.update_dashboard(
                request={"dashboard": message}, timeout=timeout, retry=TRANSIENT
            ),
        }
        label = f"update {desired.label} ({existing.name})"
        return _call(label, self._waiting(label, updaters[desired.kind]))

    def delete(self, existing: Existing) -> None:
        c, timeout, name = self.clients, TIMEOUT_SECONDS, existing.name
        deleters: dict[Kind, Callable[[], Any]] = {
            Kind.LOG_METRIC: lambda: c.log_metrics.delete_log_metric(
                metric_name=f"{self.parent}/metrics/{name}", timeout=timeout, retry=TRANSIENT
            ),
            Kind.SERVICE: lambda: c.service_monitoring.delete_service(
                name=name, timeout=timeout, retry=TRANSIENT
            ),
            Kind.SLO: lambda: c.service_monitoring.delete_service_level_objective(
                name=name, timeout=timeout, retry=TRANSIENT
            ),
            Kind.UPTIME_CHECK: lambda: c.uptime_checks.delete_uptime_check_config(
                name=name, timeout=timeout, retry=TRANSIENT
            ),
            Kind.ALERT_POLICY: lambda: c.alert_policies.delete_alert_policy(
                name=name, timeout=timeout, retry=TRANSIENT
            ),
            Kind.DASHBOARD: lambda: c.dashboards.delete_dashboard(
                name=name, timeout=timeout, retry=TRANSIENT
            ),
        }
        _call(f"delete {existing.label} ({name})", deleters[existing.kind])


def _call(description: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except exceptions.GoogleAPICallError as error:
        status = error.grpc_status_code.name if error.grpc_status_code else error.code
        raise ApiError(f"{description}: {status}: {error.message}") from None
    except exceptions.RetryError as error:
        cause = error.cause
        if isinstance(cause, exceptions.GoogleAPICallError):
            status = cause.grpc_status_code.name if cause.grpc_status_code else cause.code
            cause = f"{status}: {cause.message}"
        raise ApiError(f"{description}: gave up retrying: {cause}") from None

"""The desired objects (built from YAML) and the existing ones (read from the API)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import proto
from google.cloud import monitoring_dashboard_v1, monitoring_v3
from google.cloud.logging_v2.types import LogMetric

from monitoring import identity
from monitoring.identity import Kind

MESSAGE_TYPES: dict[Kind, type[proto.Message]] = {
    Kind.LOG_METRIC: LogMetric,
    Kind.SERVICE: monitoring_v3.Service,
    Kind.SLO: monitoring_v3.ServiceLevelObjective,
    Kind.UPTIME_CHECK: monitoring_v3.UptimeCheckConfig,
    Kind.ALERT_POLICY: monitoring_v3.AlertPolicy,
    Kind.DASHBOARD: monitoring_dashboard_v1.Dashboard,
}
# The map field holding the identity labels; log metrics have none (see identity.py).
LABEL_FIELDS: dict[Kind, str] = {
    Kind.SERVICE: "user_labels",
    Kind.SLO: "user_labels",
    Kind.UPTIME_CHECK: "user_labels",
    Kind.ALERT_POLICY: "user_labels",
    Kind.DASHBOARD: "labels",
}

# Top-level fields (API JSON names) an update may change, for kinds whose API lists them; a
# change anywhere else is a replacement. UpdateUptimeCheckConfigRequest: "The following
# fields can be updated: display_name, http_check, tcp_check, timeout, content_matchers, and
# selected_regions" (user_labels, added to the message later, assumed updatable too).
UPDATABLE: dict[Kind, frozenset[str]] = {
    Kind.UPTIME_CHECK: frozenset(
        {
            "displayName",
            "httpCheck",
            "tcpCheck",
            "timeout",
            "contentMatchers",
            "selectedRegions",
            "userLabels",
        }
    ),
}


@dataclass(frozen=True)
class Desired:
    """One object as the configuration wants it, in the client's own message type."""

    kind: Kind
    config_id: str
    message: Any  # a proto-plus message of MESSAGE_TYPES[kind]
    source: str  # "file: path inside it", for messages
    parent: str = ""  # SLOs: the service's resource name
    pending: tuple[str, ...] = field(default=())  # references known only after apply

    def with_message(self, message: Any, pending: tuple[str, ...] = ()) -> Desired:
        return replace(self, message=message, pending=pending)

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.config_id}"


@dataclass(frozen=True)
class Existing:
    """One object found in the project."""

    kind: Kind
    message: Any
    key: str | None  # what a Desired of the same kind is matched on; None: not the toolkit's
    managed: bool  # carries the managed-by label (or, for log metrics, the name and marker)

    @property
    def name(self) -> str:
        return self.message.name

    @property
    def label(self) -> str:
        shown = self.key or getattr(self.message, "display_name", "") or self.name
        return f"{self.kind.value} {shown}"


# Kinds whose resource names we choose: matched by their own id. The others get server-assigned
# names and are matched by their config-id label.
NAMED_KINDS = (Kind.LOG_METRIC, Kind.SERVICE, Kind.SLO)


def own_id(kind: Kind, name: str) -> str:
    """What identifies an object of a kind whose id the toolkit chooses, whatever the project.

    The API reference writes names as projects/[PROJECT_ID_OR_NUMBER]/..., and responses may
    carry the project number for objects created under the project id (google/slo-generator
    compares only the last segment of service and SLO names for this reason). So a service is
    known by its id, an SLO by "service id/SLO id" and a log metric by its name, which has no
    project in it."""
    parts = name.split("/")
    if kind is Kind.SLO and len(parts) >= 6:
        return f"{parts[3]}/{parts[5]}"
    if kind is Kind.SERVICE and len(parts) >= 4:
        return parts[3]
    return parts[-1]


def desired_key(desired: Desired) -> str:
    if desired.kind in NAMED_KINDS:
        return own_id(desired.kind, desired.message.name)
    return desired.config_id


def labels_of(kind: Kind, message: Any) -> dict[str, str]:
    field_name = LABEL_FIELDS.get(kind)
    return dict(getattr(message, field_name)) if field_name else {}


def existing(kind: Kind, message: Any) -> Existing:
    """Wrap an object read from the API with what identifies it."""
    if kind is Kind.LOG_METRIC:
        managed = identity.log_metric_is_managed(message.name, message.description)
        return Existing(kind, message, message.name, managed)
    labels = labels_of(kind, message)
    if kind in NAMED_KINDS:
        return Existing(kind, message, own_id(kind, message.name), identity.is_managed(labels))
    return Existing(kind, message, identity.config_id_of(labels), identity.is_managed(labels))

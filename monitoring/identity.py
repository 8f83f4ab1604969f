"""How the toolkit recognises its own objects in a project.

Alert policies, dashboards, uptime checks, services and SLOs carry labels: `managed-by`
(only objects with it are ever pruned), `config-id` (the YAML id; alert policies, dashboards
and uptime checks get server-assigned names, so this label is how they are found again, never
their display name) and `config-sha` (a digest of the payload last applied, so that a field
removed from the YAML, which the field-level diff cannot tell from a server default, still
causes an update).

Log-based metrics have no labels: the toolkit's are named `fashion-serve-<id>` and their
description ends with the marker line below; --prune deletes a log metric only if both hold.
"""

from __future__ import annotations

import enum
import hashlib

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "fashion-serve"
CONFIG_ID_KEY = "config-id"
CONFIG_SHA_KEY = "config-sha"
LOG_METRIC_PREFIX = "fashion-serve-"
LOG_METRIC_MARKER = "(managed-by: fashion-serve)"


class Kind(enum.Enum):
    """Object kinds, in the order they are created (dependencies first)."""

    LOG_METRIC = "log-metric"
    SERVICE = "service"
    SLO = "slo"
    UPTIME_CHECK = "uptime-check"
    ALERT_POLICY = "alert-policy"
    DASHBOARD = "dashboard"

    @property
    def order(self) -> int:
        return list(Kind).index(self)


def identity_labels(config_id: str) -> dict[str, str]:
    return {MANAGED_BY_KEY: MANAGED_BY_VALUE, CONFIG_ID_KEY: config_id}


def is_managed(labels: dict[str, str]) -> bool:
    return labels.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


def config_id_of(labels: dict[str, str]) -> str | None:
    return labels.get(CONFIG_ID_KEY) if is_managed(labels) else None


def payload_digest(serialized: bytes) -> str:
    """16 hex digits: short enough for a label value (at most 63 characters)."""
    return hashlib.sha256(serialized).hexdigest()[:16]


def log_metric_name(config_id: str) -> str:
    return f"{LOG_METRIC_PREFIX}{config_id}"


def log_metric_is_managed(name: str, description: str) -> bool:
    return name.startswith(LOG_METRIC_PREFIX) and description.rstrip().endswith(LOG_METRIC_MARKER)

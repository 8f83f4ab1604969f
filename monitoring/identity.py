"""How the toolkit recognises its own objects in a project.

Alert policies, dashboards, uptime checks, services and SLOs carry labels: `managed-by`
(only objects with it are ever pruned), `config-id` (the YAML id; alert policies, dashboards
and uptime checks get server-assigned names, so this label is how they are found again, never
their display name) and `config-sha` (a digest of the payload last applied, so that a field
removed from the YAML, which the field-level diff cannot tell from a server default, still
causes an update).

Log-based metrics have no labels: the toolkit's are named `fashion-serve-<id>` and their
description ends with the marker "(managed-by: fashion-serve; config-sha: <digest>)";
--prune deletes a log metric only if both hold. The digest there plays the config-sha
label's part (a field removed from the YAML still shows as a change).
"""

from __future__ import annotations

import hashlib
import re

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "fashion-serve"
CONFIG_ID_KEY = "config-id"
CONFIG_SHA_KEY = "config-sha"
LOG_METRIC_PREFIX = "fashion-serve-"
LOG_METRIC_MARKER = "(managed-by: fashion-serve)"


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


# A log-based metric's type in Cloud Monitoring: this prefix and the metric's name.
LOG_METRIC_TYPE_PREFIX = "logging.googleapis.com/user/"


_LOG_METRIC_MARK = re.compile(r"\s*\(managed-by: fashion-serve(?:; config-sha: ([0-9a-f]+))?\)\s*$")


def log_metric_is_managed(name: str, description: str) -> bool:
    return name.startswith(LOG_METRIC_PREFIX) and bool(_LOG_METRIC_MARK.search(description))


def split_log_metric_digest(description: str) -> tuple[str, str | None]:
    """(the description with a bare marker, the digest it carried or None)."""
    mark = _LOG_METRIC_MARK.search(description)
    if mark is None:
        return description, None
    return f"{description[: mark.start()]} {LOG_METRIC_MARKER}".lstrip(), mark.group(1)


def with_log_metric_digest(description: str, digest: str) -> str:
    bare, _ = split_log_metric_digest(description)
    return (
        bare.removesuffix(LOG_METRIC_MARKER)
        + f"(managed-by: {MANAGED_BY_VALUE}; config-sha: {digest})"
    )

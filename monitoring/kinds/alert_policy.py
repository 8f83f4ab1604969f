"""Alert policies (google.monitoring.v3 AlertPolicyService), from alerts/*.yaml and, for the
burn-rate alerts, generated from slo/. The API names them; they are found again by their
config-id label. Their notification channels and uptime-check ids are resolved against the
project (references.py)."""

from __future__ import annotations

from typing import Any

from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
    AlertPolicyServiceGrpcTransport,
)

from monitoring.errors import ConfigError
from monitoring.kinds.base import ApiContext, Checks, Kind, YamlSource, field_error, field_mask
from monitoring.references import resolve, uptime_references
from monitoring.resources import Desired, Existing

MAX_CONDITIONS = 6


def _list(ctx: ApiContext, parents: Any) -> Any:
    return ctx.client(ALERT_POLICY).list_alert_policies(name=ctx.parent, **ctx.options)


def _create(ctx: ApiContext, desired: Desired) -> Any:
    return ctx.client(ALERT_POLICY).create_alert_policy(
        name=ctx.parent, alert_policy=desired.message, **ctx.options
    )


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    return ctx.client(ALERT_POLICY).update_alert_policy(
        alert_policy=desired.message, update_mask=field_mask(mask), **ctx.options
    )


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(ALERT_POLICY).delete_alert_policy(name=existing.name, **ctx.options)


def _validate(item: Desired, body: dict[str, Any], checks: Checks) -> list[ConfigError]:
    errors = []
    documentation = body.get("documentation", {})
    if not documentation.get("content") or documentation.get("mimeType") != "text/markdown":
        reason = "needs content (the runbook) and mimeType text/markdown"
        errors.append(field_error(item, "documentation", reason))
    if body.get("severity", "SEVERITY_UNSPECIFIED") == "SEVERITY_UNSPECIFIED":
        errors.append(field_error(item, "severity", "is required: CRITICAL, ERROR or WARNING"))
    if not body.get("notificationChannels"):
        reason = "is required (display names or variables)"
        errors.append(field_error(item, "notificationChannels", reason))
    conditions = body.get("conditions", [])
    if not 1 <= len(conditions) <= MAX_CONDITIONS:
        errors.append(field_error(item, "conditions", f"needs 1 to {MAX_CONDITIONS} conditions"))
    if len(conditions) > 1 and body.get("combiner", "COMBINE_UNSPECIFIED") == "COMBINE_UNSPECIFIED":
        errors.append(field_error(item, "combiner", "is required with more than one condition"))
    for index, condition in enumerate(conditions):
        for member in ("conditionThreshold", "conditionAbsent"):
            text = condition.get(member, {}).get("filter", "")
            for ref in uptime_references(text):
                if ref not in checks.uptime_ids:
                    path = f"conditions[{index}].{member}.filter"
                    reason = f"@{{uptime_check:{ref}}} is not a configured uptime check"
                    errors.append(field_error(item, path, reason))
    return errors


ALERT_POLICY = Kind(
    value="alert-policy",
    order=4,
    message_type=monitoring_v3.AlertPolicy,
    client=(monitoring_v3.AlertPolicyServiceClient, AlertPolicyServiceGrpcTransport),
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    source=YamlSource("alerts/*.yaml", "policies", "policy"),
    validate=_validate,
    resolve=resolve,
)

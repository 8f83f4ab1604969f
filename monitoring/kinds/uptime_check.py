"""Uptime checks (google.monitoring.v3 UptimeCheckService), from uptime_checks.yaml.

The API names them; they are found again by their config-id label. An update may change only
the fields UpdateUptimeCheckConfigRequest lists ("display_name, http_check, tcp_check,
timeout, content_matchers, and selected_regions"; user_labels, added to the message later, is
assumed updatable too): a change to anything else (what is checked, the period) is a
replacement.
"""

from __future__ import annotations

from typing import Any

from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.uptime_check_service.transports import (
    UptimeCheckServiceGrpcTransport,
)

from monitoring.errors import ConfigError
from monitoring.kinds.base import ApiContext, Checks, Kind, YamlSource, field_error, field_mask
from monitoring.resources import Desired, Existing

PERIODS = {60, 300, 600, 900}  # seconds (UptimeCheckConfig.period)


def _list(ctx: ApiContext, parents: Any) -> Any:
    return ctx.client(UPTIME_CHECK).list_uptime_check_configs(parent=ctx.parent, **ctx.options)


def _create(ctx: ApiContext, desired: Desired) -> Any:
    return ctx.client(UPTIME_CHECK).create_uptime_check_config(
        parent=ctx.parent, uptime_check_config=desired.message, **ctx.options
    )


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    # The flattened method takes no update_mask: the request carries it.
    request = {"uptime_check_config": desired.message, "update_mask": field_mask(mask)}
    return ctx.client(UPTIME_CHECK).update_uptime_check_config(request=request, **ctx.options)


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(UPTIME_CHECK).delete_uptime_check_config(name=existing.name, **ctx.options)


def _validate(item: Desired, body: dict[str, Any], checks: Checks) -> list[ConfigError]:
    errors = []
    period = float(body.get("period", "60s").rstrip("s"))
    if period not in PERIODS:
        errors.append(field_error(item, "period", f"must be one of {sorted(PERIODS)} seconds"))
    timeout = float(body.get("timeout", "0s").rstrip("s"))
    if not 1 <= timeout <= 60:
        errors.append(field_error(item, "timeout", "is required, from 1s to 60s"))
    resource = body.get("monitoredResource", {}).get("type")
    auth = body.get("httpCheck", {}).get("serviceAgentAuthentication", {}).get("type")
    if resource == "cloud_run_revision" and auth != "OIDC_TOKEN":
        reason = "must be {type: OIDC_TOKEN}: the Cloud Run service requires authentication"
        errors.append(field_error(item, "httpCheck.serviceAgentAuthentication", reason))
    return errors


UPTIME_CHECK = Kind(
    value="uptime-check",
    order=3,
    message_type=monitoring_v3.UptimeCheckConfig,
    client=(monitoring_v3.UptimeCheckServiceClient, UptimeCheckServiceGrpcTransport),
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    source=YamlSource("uptime_checks.yaml", "uptime_checks", "check"),
    immutable_prefixes=("monitoredResource", "resourceGroup", "syntheticMonitor"),
    updatable=frozenset(
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
    validate=_validate,
)

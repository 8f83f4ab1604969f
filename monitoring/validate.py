"""Checks of meaning on the built objects (the message types already checked the schema).

Rules, each from the API documentation or from the toolkit's conventions:
- metric types in filters belong to the documented set below or to this configuration's
  log-based metrics (a typo in a metric type otherwise draws an empty chart forever);
- alignment periods are at least 60 s (Cloud Monitoring's minimum for alerting and charts);
- SLO goals are within the API's range and rolling periods whole days up to 30;
- every burn-rate alert window is shorter than the SLO window and its threshold is reachable
  (a burn rate above 1 / error budget cannot happen: the alert would never fire);
- dashboard tiles lie inside the mosaic's columns and do not overlap;
- alert policies have a Markdown runbook, a severity, notification channels, 1 to 6
  conditions (a combiner when more than one) and refer only to configured uptime checks;
- uptime checks use a supported period and timeout, and checks of Cloud Run (an authenticated
  service) use the service agent's OIDC token;
- log-based distribution metrics have a value extractor and buckets; label extractors match
  declared labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

import slo
from monitoring import identity
from monitoring.errors import ConfigError
from monitoring.identity import Kind
from monitoring.references import uptime_references
from monitoring.resources import Desired

# https://cloud.google.com/monitoring/api/metrics_gcp (run, aiplatform and monitoring sections).
DOCUMENTED_METRIC_TYPES = frozenset(
    {
        "run.googleapis.com/request_count",
        "run.googleapis.com/request_latencies",
        "run.googleapis.com/container/instance_count",
        "run.googleapis.com/container/cpu/utilizations",
        "run.googleapis.com/container/memory/utilizations",
        "run.googleapis.com/container/startup_latencies",
        "run.googleapis.com/container/billable_instance_time",
        "run.googleapis.com/container/max_request_concurrencies",
        "aiplatform.googleapis.com/prediction/online/prediction_count",
        "aiplatform.googleapis.com/prediction/online/prediction_latencies",
        "aiplatform.googleapis.com/prediction/online/error_count",
        "monitoring.googleapis.com/uptime_check/check_passed",
        "monitoring.googleapis.com/uptime_check/request_latency",
    }
)
# ServiceLevelObjective.goal: "0 < goal <= 0.9999" (google-cloud-monitoring 2.32's proto
# documentation; Terraform and older references say 0.999, which slo/ enforces).
MAX_GOAL = 0.9999
MAX_ROLLING_DAYS = 30
MIN_ALIGNMENT_SECONDS = 60
UPTIME_PERIODS = {60, 300, 600, 900}
MAX_CONDITIONS = 6
METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
SLO_SELECTOR = re.compile(r'select_slo_\w+\(\s*"([^"]+)"')


def check(
    desired: list[Desired],
    slos: slo.SloSet,
    windows: tuple[slo.AlertWindow, ...],
    windows_file: Path,
) -> list[ConfigError]:
    """Every problem found; an empty list means the configuration can be planned."""
    errors = check_slos(slos, windows, windows_file)
    log_metric_types = {
        f"logging.googleapis.com/user/{d.message.name}"
        for d in desired
        if d.kind is Kind.LOG_METRIC
    }
    slo_names = {d.message.name for d in desired if d.kind is Kind.SLO}
    uptime_ids = {d.config_id for d in desired if d.kind is Kind.UPTIME_CHECK}
    for item in desired:
        body = json_format.MessageToDict(type(item.message).pb(item.message))
        errors += _check_filters(item, body, DOCUMENTED_METRIC_TYPES | log_metric_types, slo_names)
        per_kind = {
            Kind.DASHBOARD: _check_dashboard,
            Kind.ALERT_POLICY: lambda i, b: _check_policy(i, b, uptime_ids),
            Kind.UPTIME_CHECK: _check_uptime,
            Kind.LOG_METRIC: _check_log_metric,
        }.get(item.kind)
        if per_kind is not None:
            errors += per_kind(item, body)
    return errors


def check_slos(
    slos: slo.SloSet, windows: tuple[slo.AlertWindow, ...], windows_file: Path
) -> list[ConfigError]:
    errors = []
    if not 1 <= slos.window_days <= MAX_ROLLING_DAYS:
        errors.append(
            ConfigError(slos.source, "window_days", f"must be 1 to {MAX_ROLLING_DAYS} days")
        )
    for index, objective in enumerate(slos.objectives):
        if not 0 < objective.goal <= MAX_GOAL:
            reason = f"{objective.goal} is outside the API's range 0 < goal <= {MAX_GOAL}"
            errors.append(ConfigError(slos.source, f"objectives[{index}].goal", reason))
            continue
        highest = 1 / objective.error_budget
        for window_index, window in enumerate(windows):
            where = f"alerts[{window_index}] ({window.name}) for objective {objective.name}"
            if window.long_window > slos.window:
                reason = f"long_window {window.long_window} is longer than the SLO window"
                errors.append(ConfigError(windows_file, where, reason))
                continue
            rate = window.burn_rate_threshold(slos.window_days)
            if rate >= highest:
                reason = (
                    f"burn-rate threshold {rate:g} can never be exceeded: with goal "
                    f"{objective.goal} the highest possible burn rate is {highest:g}"
                )
                errors.append(ConfigError(windows_file, where, reason))
    return errors


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every mapping entry, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else key
            yield item_path, key, item
            yield from _walk(item, item_path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _error(item: Desired, path: str, reason: str) -> ConfigError:
    file, _, inside = item.source.partition(": ")
    return ConfigError(file, f"{inside}.{path}" if path else inside, reason)


def _check_filters(
    item: Desired, body: dict[str, Any], metric_types: set[str], slo_names: set[str]
) -> list[ConfigError]:
    errors = []
    for path, key, value in _walk(body):
        if key in ("alignmentPeriod", "minAlignmentPeriod") and isinstance(value, str):
            seconds = float(value.rstrip("s"))
            if seconds < MIN_ALIGNMENT_SECONDS:
                errors.append(
                    _error(item, path, f"{value} is below the {MIN_ALIGNMENT_SECONDS}s minimum")
                )
        if not isinstance(value, str) or item.kind is Kind.LOG_METRIC:
            continue
        if key.endswith("ilter") or key.endswith("Filter"):
            for metric_type in METRIC_TYPE.findall(value):
                if metric_type not in metric_types:
                    errors.append(_error(item, path, f"unknown metric type {metric_type!r}"))
            for name in SLO_SELECTOR.findall(value):
                if name not in slo_names:
                    errors.append(_error(item, path, f"{name!r} is not one of the configured SLOs"))
    return errors


def _check_dashboard(item: Desired, body: dict[str, Any]) -> list[ConfigError]:
    layout = body.get("mosaicLayout")
    if layout is None:
        return [_error(item, "mosaicLayout", "is required (the toolkit's dashboards use a mosaic)")]
    columns = layout.get("columns", 0)
    errors = []
    if columns != 48:
        errors.append(_error(item, "mosaicLayout.columns", f"must be 48, got {columns}"))
    taken: dict[tuple[int, int], int] = {}
    for index, tile in enumerate(layout.get("tiles", [])):
        x, y = tile.get("xPos", 0), tile.get("yPos", 0)
        width, height = tile.get("width", 0), tile.get("height", 0)
        where = f"mosaicLayout.tiles[{index}]"
        if width <= 0 or height <= 0 or x + width > columns:
            errors.append(_error(item, where, f"x {x} + width {width} must fit {columns} columns"))
            continue
        cells = [(cx, cy) for cx in range(x, x + width) for cy in range(y, y + height)]
        overlapped = {taken[cell] for cell in cells if cell in taken}
        if overlapped:
            errors.append(_error(item, where, f"overlaps tiles[{min(overlapped)}]"))
        taken.update(dict.fromkeys(cells, index))
    return errors


def _check_policy(item: Desired, body: dict[str, Any], uptime_ids: set[str]) -> list[ConfigError]:
    errors = []
    documentation = body.get("documentation", {})
    if not documentation.get("content") or documentation.get("mimeType") != "text/markdown":
        errors.append(
            _error(item, "documentation", "needs content (the runbook) and mimeType text/markdown")
        )
    if body.get("severity", "SEVERITY_UNSPECIFIED") == "SEVERITY_UNSPECIFIED":
        errors.append(_error(item, "severity", "is required: CRITICAL, ERROR or WARNING"))
    if not body.get("notificationChannels"):
        errors.append(
            _error(item, "notificationChannels", "is required (display names or variables)")
        )
    conditions = body.get("conditions", [])
    if not 1 <= len(conditions) <= MAX_CONDITIONS:
        errors.append(_error(item, "conditions", f"needs 1 to {MAX_CONDITIONS} conditions"))
    if len(conditions) > 1 and body.get("combiner", "COMBINE_UNSPECIFIED") == "COMBINE_UNSPECIFIED":
        errors.append(_error(item, "combiner", "is required with more than one condition"))
    for path, key, value in _walk(body):
        if key == "filter":
            for ref in uptime_references(value):
                if ref not in uptime_ids:
                    errors.append(
                        _error(
                            item, path, f"@{{uptime_check:{ref}}} is not a configured uptime check"
                        )
                    )
    return errors


def _check_uptime(item: Desired, body: dict[str, Any]) -> list[ConfigError]:
    errors = []
    period = float(body.get("period", "60s").rstrip("s"))
    if period not in UPTIME_PERIODS:
        errors.append(_error(item, "period", f"must be one of {sorted(UPTIME_PERIODS)} seconds"))
    timeout = float(body.get("timeout", "0s").rstrip("s"))
    if not 1 <= timeout <= 60:
        errors.append(_error(item, "timeout", "is required, from 1s to 60s"))
    resource = body.get("monitoredResource", {}).get("type")
    auth = body.get("httpCheck", {}).get("serviceAgentAuthentication", {}).get("type")
    if resource == "cloud_run_revision" and auth != "OIDC_TOKEN":
        reason = "must be {type: OIDC_TOKEN}: the Cloud Run service requires authentication"
        errors.append(_error(item, "httpCheck.serviceAgentAuthentication", reason))
    return errors


def _check_log_metric(item: Desired, body: dict[str, Any]) -> list[ConfigError]:
    errors = []
    if not body.get("filter"):
        errors.append(_error(item, "filter", "is required"))
    descriptor = body.get("metricDescriptor", {})
    if descriptor.get("valueType") == "DISTRIBUTION":
        for key in ("valueExtractor", "bucketOptions"):
            if key not in body:
                errors.append(_error(item, key, "is required for a DISTRIBUTION metric"))
    declared = {label.get("key") for label in descriptor.get("labels", [])}
    for key in body.get("labelExtractors", {}):
        if key not in declared:
            errors.append(
                _error(item, f"labelExtractors.{key}", "is not a label of metricDescriptor.labels")
            )
    if len(item.message.name) > 100 or not item.message.name.startswith(identity.LOG_METRIC_PREFIX):
        errors.append(_error(item, "", "log metric names are at most 100 characters"))
    return errors

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

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

import slo
from monitoring import catalog, identity
from monitoring.errors import ConfigError
from monitoring.identity import Kind
from monitoring.references import uptime_references
from monitoring.resources import Desired

MAX_GOAL = slo.MAX_GOAL  # the toolkit's goal bound, stated once in slo/config.py
MAX_BURN_RATE_LOOKBACK_SECONDS = 86400  # "Alerting on your burn rate", lookback periods
MAX_ROLLING_DAYS = 30
MIN_ALIGNMENT_SECONDS = 60
UPTIME_PERIODS = {60, 300, 600, 900}
MAX_CONDITIONS = 6
SLO_SELECTOR = re.compile(r'select_slo_\w+\(\s*"([^"]+)"')
BURN_RATE_LOOKBACK = re.compile(r'select_slo_burn_rate\(\s*"[^"]+"\s*,\s*"([0-9.]+)s"')
LOG_METRIC_TYPE_PREFIX = "logging.googleapis.com/user/"


def check(
    desired: list[Desired],
    slos: slo.SloSet,
    windows: tuple[slo.AlertWindow, ...],
    windows_file: Path,
) -> list[ConfigError]:
    """Every problem found; an empty list means the configuration can be planned."""
    errors = check_slos(slos, windows, windows_file)
    try:
        known = catalog.load_catalog()
    except ConfigError as error:
        return [*errors, error]
    known = known.with_log_metrics(
        {
            LOG_METRIC_TYPE_PREFIX + d.message.name: {
                label.key for label in d.message.metric_descriptor.labels
            }
            for d in desired
            if d.kind is Kind.LOG_METRIC
        }
    )
    slo_names = {d.message.name for d in desired if d.kind is Kind.SLO}
    uptime_ids = {d.config_id for d in desired if d.kind is Kind.UPTIME_CHECK}
    errors += _check_latency_buckets(desired, slos)
    for item in desired:
        body = json_format.MessageToDict(type(item.message).pb(item.message))
        errors += _check_filters(item, body, known, slo_names)
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
    item: Desired, body: dict[str, Any], known: catalog.Catalog, slo_names: set[str]
) -> list[ConfigError]:
    errors = []
    for path, key, value in _walk(body):
        if key in ("alignmentPeriod", "minAlignmentPeriod") and isinstance(value, str):
            seconds = float(value.rstrip("s"))
            if seconds < MIN_ALIGNMENT_SECONDS:
                errors.append(
                    _error(item, path, f"{value} is below the {MIN_ALIGNMENT_SECONDS}s minimum")
                )
        if item.kind is Kind.LOG_METRIC or "logsPanel" in path:
            continue  # Logging query language, not a Monitoring filter
        if isinstance(value, dict):
            errors += [_error(item, path + at, why) for at, why in _group_by(known, value)]
        if not isinstance(value, str):
            continue
        if key in ("query", "prometheusQuery"):
            errors += [_error(item, path, reason) for reason in catalog.check_promql(known, value)]
        if key.endswith("ilter") or key.endswith("Filter"):
            errors += [_error(item, path, reason) for reason in catalog.check_filter(known, value)]
            for name in SLO_SELECTOR.findall(value):
                if name not in slo_names:
                    errors.append(_error(item, path, f"{name!r} is not one of the configured SLOs"))
            for lookback in BURN_RATE_LOOKBACK.findall(value):
                if float(lookback) > MAX_BURN_RATE_LOOKBACK_SECONDS:
                    reason = (
                        f"select_slo_burn_rate lookback {lookback}s is refused by the API: at "
                        "most 86400s (24 hours); longer windows need a PromQL condition"
                    )
                    errors.append(_error(item, path, reason))
    return errors


def _group_by(known: catalog.Catalog, mapping: dict[str, Any]) -> list[tuple[str, str]]:
    """groupByFields checked against the filter they aggregate: (sub-path, reason)."""
    found = []
    pairs = (
        ("filter", ("aggregation", "aggregations", "secondaryAggregation")),
        ("denominatorFilter", ("denominatorAggregations",)),
    )
    for filter_key, aggregation_keys in pairs:
        text = mapping.get(filter_key)
        if not isinstance(text, str):
            continue
        for aggregation_key in aggregation_keys:
            aggregations = mapping.get(aggregation_key)
            listed = aggregations if isinstance(aggregations, list) else [aggregations]
            for index, aggregation in enumerate(listed):
                if not isinstance(aggregation, dict):
                    continue
                at = f".{aggregation_key}" + (f"[{index}]" if aggregations is listed else "")
                fields = aggregation.get("groupByFields", [])
                found += [
                    (f"{at}.groupByFields", reason)
                    for reason in catalog.check_group_by(known, text, fields)
                ]
    return found


def _check_latency_buckets(desired: list[Desired], slos: slo.SloSet) -> list[ConfigError]:
    """A distribution-cut SLI is exact only when its threshold is a bucket bound."""
    metrics = {
        LOG_METRIC_TYPE_PREFIX + d.message.name: d for d in desired if d.kind is Kind.LOG_METRIC
    }
    errors = []
    for item in desired:
        if item.kind is not Kind.SLO:
            continue
        cut = item.message.service_level_indicator.request_based.distribution_cut
        metric_type = next(iter(catalog.METRIC_TYPE.findall(cut.distribution_filter)), None)
        metric = metrics.get(metric_type or "")
        if metric is None:
            continue
        bounds = list(metric.message.bucket_options.explicit_buckets.bounds)
        if not any(abs(bound - cut.range_.max_) < 1e-9 for bound in bounds):
            reason = (
                f"bucketOptions.explicitBuckets.bounds {bounds} must include the latency SLO "
                f"threshold {cut.range_.max_:g} (objective {item.config_id} in {slos.source})"
            )
            errors.append(_error(metric, "bucketOptions", reason))
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
    bounds = body.get("bucketOptions", {}).get("explicitBuckets", {}).get("bounds", [])
    if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
        reason = f"must be strictly increasing, got {bounds}"
        errors.append(_error(item, "bucketOptions.explicitBuckets.bounds", reason))
    declared = {label.get("key") for label in descriptor.get("labels", [])}
    for key in body.get("labelExtractors", {}):
        if key not in declared:
            errors.append(
                _error(item, f"labelExtractors.{key}", "is not a label of metricDescriptor.labels")
            )
    if len(item.message.name) > 100 or not item.message.name.startswith(identity.LOG_METRIC_PREFIX):
        errors.append(_error(item, "", "log metric names are at most 100 characters"))
    return errors

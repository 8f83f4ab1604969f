"""Checks of meaning on the built objects (the message types already checked the schema).

Rules that apply across kinds, each from the API documentation or the toolkit's conventions
(each kind's own checks are its `validate`, in kinds/):
- filters, groupByFields and PromQL queries name only metric types, labels and resource types
  of the checked list (catalog.yaml) or of this configuration's log-based metrics (a typo or a
  label a metric lacks otherwise draws an empty chart, or an alert that never fires);
- select_slo_burn_rate looks back at most 24 hours (the API refuses more);
- a latency SLI's threshold is a bucket bound of its log-based distribution;
- alignment periods are at least 60 s (Cloud Monitoring's minimum for alerting and charts);
- SLO goals are within the API's range and rolling periods whole days up to 30;
- every burn-rate alert window is shorter than the SLO window and its threshold is reachable
  (a burn rate above 1 / error budget cannot happen: the alert would never fire);
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

import slo
from monitoring import catalog, kinds
from monitoring.errors import ConfigError
from monitoring.identity import LOG_METRIC_TYPE_PREFIX
from monitoring.kinds.base import Checks, field_error
from monitoring.resources import Desired
from monitoring.slo_objects import MAX_BURN_RATE_LOOKBACK

MIN_ALIGNMENT_SECONDS = 60
SLO_SELECTOR = re.compile(r'select_slo_\w+\(\s*"([^"]+)"')
BURN_RATE_LOOKBACK = re.compile(r'select_slo_burn_rate\(\s*"[^"]+"\s*,\s*"([0-9.]+)s"')


def check(desired: list[Desired], slos: slo.SloSet) -> list[ConfigError]:
    """Every problem found in the objects (the SLOs and their windows were checked first, by
    check_slos); an empty list means the configuration can be planned."""
    errors: list[ConfigError] = []
    try:
        known = catalog.load_catalog()
    except ConfigError as error:
        return [*errors, error]
    log_metrics = {
        LOG_METRIC_TYPE_PREFIX + d.message.name: d for d in desired if d.kind is kinds.LOG_METRIC
    }
    known = known.with_log_metrics(
        {
            metric_type: {label.key for label in d.message.metric_descriptor.labels}
            for metric_type, d in log_metrics.items()
        }
    )
    slo_names = {d.message.name for d in desired if d.kind is kinds.SLO}
    checks = Checks(uptime_ids={d.config_id for d in desired if d.kind is kinds.UPTIME_CHECK})
    errors += _check_latency_buckets(desired, slos, log_metrics)
    for item in desired:
        body = json_format.MessageToDict(type(item.message).pb(item.message))
        errors += _check_filters(item, body, known, slo_names)
        errors += item.kind.validate(item, body, checks)
    return errors


def check_slos(
    slos: slo.SloSet, windows: tuple[slo.AlertWindow, ...], windows_file: Path
) -> list[ConfigError]:
    # window_days and each goal are already within the API's ranges: slo.load_slos refuses
    # any other (slo/config.py states the bounds once).
    errors = []
    for objective in slos.objectives:
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


def _check_filters(
    item: Desired, body: dict[str, Any], known: catalog.Catalog, slo_names: set[str]
) -> list[ConfigError]:
    errors = []
    for path, key, value in _walk(body):
        if key in ("alignmentPeriod", "minAlignmentPeriod") and isinstance(value, str):
            seconds = float(value.rstrip("s"))
            if seconds < MIN_ALIGNMENT_SECONDS:
                errors.append(
                    field_error(
                        item, path, f"{value} is below the {MIN_ALIGNMENT_SECONDS}s minimum"
                    )
                )
        if item.kind is kinds.LOG_METRIC or "logsPanel" in path:
            continue  # Logging query language, not a Monitoring filter
        if isinstance(value, dict):
            errors += [field_error(item, path + at, why) for at, why in _group_by(known, value)]
        if key == "monitoredResource" and isinstance(value, dict):
            errors += [field_error(item, path, why) for why in _resource(known, value)]
        if not isinstance(value, str):
            continue
        if key in ("query", "prometheusQuery"):
            errors += [
                field_error(item, path, reason) for reason in catalog.check_promql(known, value)
            ]
        if key.endswith("ilter") or key.endswith("Filter"):
            errors += [
                field_error(item, path, reason) for reason in catalog.check_filter(known, value)
            ]
            for name in SLO_SELECTOR.findall(value):
                if name not in slo_names:
                    errors.append(
                        field_error(item, path, f"{name!r} is not one of the configured SLOs")
                    )
            for lookback in BURN_RATE_LOOKBACK.findall(value):
                if float(lookback) > MAX_BURN_RATE_LOOKBACK.total_seconds():
                    reason = (
                        f"select_slo_burn_rate lookback {lookback}s is refused by the API: at "
                        "most 86400s (24 hours); longer windows need a PromQL condition"
                    )
                    errors.append(field_error(item, path, reason))
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


def _resource(known: catalog.Catalog, resource: dict[str, Any]) -> list[str]:
    """A monitored resource (an uptime check's target) of a listed type, with listed labels."""
    labels = known.resources.get(resource.get("type", ""))
    if labels is None:
        return [f"unknown resource type {resource.get('type')!r} (not in catalog.yaml)"]
    return [
        f"resource label {label!r} is not a label of {resource['type']}"
        for label in resource.get("labels", {})
        if label not in labels
    ]


def _check_latency_buckets(
    desired: list[Desired], slos: slo.SloSet, metrics: dict[str, Desired]
) -> list[ConfigError]:
    """A distribution-cut SLI is exact only when its threshold is a bucket bound (`metrics`:
    the log-based metrics by metric type)."""
    errors = []
    for item in desired:
        if item.kind is not kinds.SLO:
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
            errors.append(field_error(metric, "bucketOptions", reason))
    return errors

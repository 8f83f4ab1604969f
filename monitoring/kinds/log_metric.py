"""Log-based metrics (google.logging.v2 MetricsServiceV2), from log_metrics.yaml.

Named by the toolkit (fashion-serve-<id>; the name has no project in it). They have no labels:
the toolkit's are recognised by the name prefix and the description's marker, which also
carries the digest (identity.py). The API cannot change a metric's kind or value type: such a
change is a replacement, under the same name (deleted first).
"""

from __future__ import annotations

import itertools
from typing import Any

from google.cloud.logging_v2.services.metrics_service_v2 import MetricsServiceV2Client
from google.cloud.logging_v2.services.metrics_service_v2.transports import (
    MetricsServiceV2GrpcTransport,
)
from google.cloud.logging_v2.types import LogMetric

from monitoring import identity
from monitoring.errors import ConfigError
from monitoring.kinds.base import ApiContext, Checks, Kind, YamlSource, field_error
from monitoring.resources import Desired, Existing


def _list(ctx: ApiContext, parents: Any) -> Any:
    return ctx.client(LOG_METRIC).list_log_metrics(parent=ctx.parent, **ctx.options)


def _create(ctx: ApiContext, desired: Desired) -> Any:
    return ctx.client(LOG_METRIC).create_log_metric(
        parent=ctx.parent, metric=desired.message, **ctx.options
    )


def _update(ctx: ApiContext, existing: Existing, desired: Desired, mask: list[str]) -> Any:
    # UpdateLogMetric has no mask: it replaces the metric (and creates it when missing).
    return ctx.client(LOG_METRIC).update_log_metric(
        metric_name=f"{ctx.parent}/metrics/{existing.name}", metric=desired.message, **ctx.options
    )


def _delete(ctx: ApiContext, existing: Existing) -> Any:
    return ctx.client(LOG_METRIC).delete_log_metric(
        metric_name=f"{ctx.parent}/metrics/{existing.name}", **ctx.options
    )


def _validate(item: Desired, body: dict[str, Any], checks: Checks) -> list[ConfigError]:
    errors = []
    if not body.get("filter"):
        errors.append(field_error(item, "filter", "is required"))
    descriptor = body.get("metricDescriptor", {})
    if descriptor.get("valueType") == "DISTRIBUTION":
        for key in ("valueExtractor", "bucketOptions"):
            if key not in body:
                errors.append(field_error(item, key, "is required for a DISTRIBUTION metric"))
    bounds = body.get("bucketOptions", {}).get("explicitBuckets", {}).get("bounds", [])
    if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
        reason = f"must be strictly increasing, got {bounds}"
        errors.append(field_error(item, "bucketOptions.explicitBuckets.bounds", reason))
    declared = {label.get("key") for label in descriptor.get("labels", [])}
    for key in body.get("labelExtractors", {}):
        if key not in declared:
            reason = "is not a label of metricDescriptor.labels"
            errors.append(field_error(item, f"labelExtractors.{key}", reason))
    name = item.message.name
    if len(name) > 100 or not name.startswith(identity.LOG_METRIC_PREFIX):
        errors.append(field_error(item, "", "log metric names are at most 100 characters"))
    return errors


class _LogMetricKind(Kind):
    """Identity and digest in the name and description instead of labels."""

    def is_managed(self, message: Any) -> bool:
        return identity.log_metric_is_managed(message.name, message.description)

    def key_of(self, message: Any) -> str | None:
        return message.name

    def stamp(self, message: Any, config_id: str) -> None:
        message.name = identity.log_metric_name(config_id)
        described = message.description.rstrip()
        message.description = f"{described} {identity.LOG_METRIC_MARKER}".lstrip()

    def split_digest(self, body: dict[str, Any]) -> str | None:
        body["description"], digest = identity.split_log_metric_digest(body.get("description", ""))
        return digest

    def set_digest(self, message: Any, digest: str | None) -> None:
        bare, _ = identity.split_log_metric_digest(message.description)
        message.description = (
            bare if digest is None else identity.with_log_metric_digest(bare, digest)
        )


LOG_METRIC = _LogMetricKind(
    value="log-metric",
    order=0,
    message_type=LogMetric,
    client=(MetricsServiceV2Client, MetricsServiceV2GrpcTransport),
    lister=_list,
    creator=_create,
    updater=_update,
    deleter=_delete,
    source=YamlSource("log_metrics.yaml", "log_metrics", "metric"),
    label_field=None,
    named=True,
    immutable_prefixes=("metricDescriptor.metricKind", "metricDescriptor.valueType"),
    validate=_validate,
)

"""The checked list of metric types, labels and resource types (catalog.yaml) and the check
that filters, groupByFields and PromQL queries name only what is on it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.config import PACKAGE_DIR, read_yaml
from monitoring.errors import ConfigError

CATALOG_FILE = PACKAGE_DIR / "catalog.yaml"
LOG_METRIC_RESOURCES = ("cloud_run_revision",)  # where the service's log metrics are written

METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
RESOURCE_TYPE = re.compile(r'resource\.type\s*=\s*"([^"]+)"')
METRIC_LABEL = re.compile(r"\bmetric\.labels?\.([A-Za-z0-9_*]+)")
RESOURCE_LABEL = re.compile(r"\bresource\.labels?\.([A-Za-z0-9_*]+)")
PROMQL_METRIC = re.compile(r"\b([a-z][a-z0-9_]*):([A-Za-z0-9_]+)")
PROMQL_MATCHERS = re.compile(r"\{([^}]*)\}")
PROMQL_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
PROMQL_BUILTIN_LABELS = {"monitored_resource", "le", "__name__"}
_SUFFIXES = ("_bucket", "_count", "_sum")


@dataclass(frozen=True)
class Catalog:
    metrics: dict[str, tuple[set[str], set[str]]]  # type -> (labels, resource types)
    resources: dict[str, set[str]]  # type -> labels

    def with_log_metrics(self, labels_by_type: dict[str, set[str]]) -> Catalog:
        metrics = dict(self.metrics)
        for metric_type, labels in labels_by_type.items():
            metrics[metric_type] = (labels, set(LOG_METRIC_RESOURCES))
        return Catalog(metrics, self.resources)

    def promql_names(self) -> dict[str, str]:
        return {promql_name(metric_type): metric_type for metric_type in self.metrics}


def promql_name(metric_type: str) -> str:
    """A Cloud Monitoring metric type as PromQL names it: the first / becomes :, every other
    special character _ (Cloud Monitoring docs, "Mapping Cloud Monitoring metrics to PromQL")."""
    domain, _, path = metric_type.partition("/")
    return re.sub(r"[^A-Za-z0-9_]", "_", domain) + ":" + re.sub(r"[^A-Za-z0-9_]", "_", path)


def load_catalog(file: Path = CATALOG_FILE) -> Catalog:
    document = read_yaml(file)
    if not isinstance(document, dict) or set(document) != {"resource_types", "metric_types"}:
        raise ConfigError(file, "(top level)", "must have resource_types and metric_types")
    resources = {
        name: set(_labels(file, f"resource_types.{name}", entry))
        for name, entry in document["resource_types"].items()
    }
    metrics = {}
    for name, entry in document["metric_types"].items():
        where = f"metric_types.{name}"
        types = set(entry.get("resource_types") or []) if isinstance(entry, dict) else set()
        unknown = types - set(resources)
        if not types or unknown:
            raise ConfigError(file, f"{where}.resource_types", "must list known resource types")
        metrics[name] = (set(_labels(file, where, entry)), types)
    return Catalog(metrics, resources)


def _labels(file: Path, where: str, entry: Any) -> list[str]:
    if not isinstance(entry, dict) or not entry.get("source"):
        raise ConfigError(file, f"{where}.source", "is required: where this was checked")
    labels = entry.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ConfigError(file, f"{where}.labels", "must be a list of label names")
    return labels


def check_filter(catalog: Catalog, text: str) -> Iterator[str]:
    """Reasons why a Monitoring filter names something the catalog does not have."""
    metric_types = METRIC_TYPE.findall(text)
    for metric_type in metric_types:
        if metric_type not in catalog.metrics:
            yield f"unknown metric type {metric_type!r} (not in catalog.yaml)"
    known = [catalog.metrics[t] for t in metric_types if t in catalog.metrics]
    resource_types = set(RESOURCE_TYPE.findall(text))
    for resource_type in sorted(resource_types - set(catalog.resources)):
        yield f"unknown resource type {resource_type!r} (not in catalog.yaml)"
    for metric_type in metric_types:
        if metric_type not in catalog.metrics:
            continue  # reported above
        _, allowed = catalog.metrics[metric_type]
        for resource_type in sorted(resource_types - allowed):
            yield f"metric {metric_type!r} is not written for resource type {resource_type!r}"
    yield from _metric_labels(known, METRIC_LABEL.findall(text))
    for label in RESOURCE_LABEL.findall(text):
        yield from _resource_label(catalog, known, resource_types, label)


def check_group_by(catalog: Catalog, filter_text: str, fields: list[str]) -> Iterator[str]:
    """Reasons why groupByFields name labels the filter's metric or resource does not have."""
    known = [catalog.metrics[t] for t in METRIC_TYPE.findall(filter_text) if t in catalog.metrics]
    resource_types = set(RESOURCE_TYPE.findall(filter_text))
    for field in fields:
        if field.startswith("metric.label."):
            yield from _metric_labels(known, [field.removeprefix("metric.label.")])
        elif field.startswith("resource.label."):
            label = field.removeprefix("resource.label.")
            yield from _resource_label(catalog, known, resource_types, label)


def check_promql(catalog: Catalog, query: str) -> Iterator[str]:
    """Reasons why a PromQL query names a metric or a label the catalog does not have."""
    names = catalog.promql_names()
    found = []
    for domain, path in PROMQL_METRIC.findall(query):
        name = f"{domain}:{path}"
        base = next((name[: -len(s)] for s in _SUFFIXES if name[: -len(s)] in names), name)
        if base not in names:
            yield f"unknown PromQL metric {name!r} (not in catalog.yaml)"
        else:
            found.append(catalog.metrics[names[base]])
    allowed = set(PROMQL_BUILTIN_LABELS)
    for labels, resource_types in found:
        allowed |= labels
        for resource_type in resource_types:
            allowed |= catalog.resources.get(resource_type, set())
    for matchers in PROMQL_MATCHERS.findall(query):
        for label in PROMQL_LABEL.findall(matchers):
            if label not in allowed:
                yield f"PromQL label {label!r} is not a label of the metrics queried"


def _metric_labels(known: list[tuple[set[str], set[str]]], labels: list[str]) -> Iterator[str]:
    for label in labels:
        if label != "*" and known and not any(label in metric[0] for metric in known):
            yield f"metric label {label!r} is not a label of the metric in this filter"


def _resource_label(
    catalog: Catalog,
    known: list[tuple[set[str], set[str]]],
    resource_types: set[str],
    label: str,
) -> Iterator[str]:
    types = resource_types or {t for metric in known for t in metric[1]}
    if label == "*" or not types:
        return
    if not any(label in catalog.resources.get(t, set()) for t in types):
        yield f"resource label {label!r} is not a label of {', '.join(sorted(types))}"

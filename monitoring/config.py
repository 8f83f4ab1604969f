"""Read the YAML definitions under a configuration directory into items naming their origin.

Layout (every file documents its own schema in a comment at its top; which files hold which
kind is each kind's `source`, kinds/):
    dashboards/*.yaml      one dashboard per file:   {id, dashboard: <Dashboard as API JSON>}
    alerts/*.yaml          {policies: [{id, policy: <AlertPolicy as API JSON>}]}
    uptime_checks.yaml     {uptime_checks: [{id, check: <UptimeCheckConfig as API JSON>}]}
    log_metrics.yaml       {log_metrics: [{id, metric: <LogMetric as API JSON, no name>}]}
    slo_alerts.yaml        custom service, routing and runbook of the SLO burn-rate alerts
    variables.yaml         defaults for the variables; environments/NAME.yaml override them

Payload bodies are written in the API's own JSON shape (camelCase, as the REST reference and
GoogleCloudPlatform/monitoring-dashboard-samples show them), so the official message types are
their schema. Only `id` and the wrapping keys are the toolkit's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitoring import kinds
from monitoring.errors import ConfigError
from monitoring.kinds import Kind

PACKAGE_DIR = Path(__file__).resolve().parent
ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,47}$")


@dataclass(frozen=True)
class Item:
    """One object definition: its toolkit id, its body and where it was written."""

    config_id: str
    body: dict[str, Any]
    file: Path
    path: str  # the path inside the file, e.g. "policies[2].policy"

    def error(self, subpath: str, reason: str) -> ConfigError:
        where = ".".join(part for part in (self.path, subpath) if part) or "(top level)"
        return ConfigError(self.file, where, reason)


@dataclass(frozen=True)
class ConfigSet:
    """Everything read from one configuration directory, before variables are substituted."""

    directory: Path
    items: dict[Kind, tuple[Item, ...]]  # the kinds with a YAML source, in creation order
    slo_alerts: Item


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key written twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(file: Path) -> Any:
    """Parse one YAML file; errors name the file and the line."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(file, "(file)", f"cannot be read: {error.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(file, where, f"invalid YAML: {problem}") from None


def load_config(directory: Path = PACKAGE_DIR) -> tuple[ConfigSet | None, list[ConfigError]]:
    """Read every definition file; returns the set (None if unusable) and all errors found."""
    errors: list[ConfigError] = []
    found: dict[Kind, tuple[Item, ...]] = {}
    for kind in kinds.ALL:
        if kind.source is None:
            continue
        files = sorted(directory.glob(kind.source.pattern))
        if not any(char in kind.source.pattern for char in "*?["):
            files = [directory / kind.source.pattern]  # one file, which must exist
        items: list[Item] = []
        for file in files:
            items += _items(file, kind.source.list_key, kind.source.body_key, errors)
        _check_unique_ids(kind.value, items, errors)
        found[kind] = tuple(items)
    slo_alerts = _slo_alerts(directory / "slo_alerts.yaml", errors)
    if errors or slo_alerts is None:
        return None, errors
    return ConfigSet(directory, found, slo_alerts), errors


def _items(
    file: Path, list_key: str | None, body_key: str, errors: list[ConfigError]
) -> list[Item]:
    """Items of one file: a list under `list_key`, or the whole file as one item if None."""
    try:
        document = read_yaml(file)
    except ConfigError as error:
        errors.append(error)
        return []
    if list_key is None:
        return [item] if (item := _item(file, document, "(top level)", body_key, errors)) else []
    if not isinstance(document, dict) or set(document) != {list_key}:
        errors.append(
            ConfigError(file, "(top level)", f"must be a mapping with one key {list_key!r}")
        )
        return []
    entries = document[list_key]
    if not isinstance(entries, list):
        errors.append(ConfigError(file, list_key, "must be a list"))
        return []
    found = (
        _item(file, entry, f"{list_key}[{i}]", body_key, errors) for i, entry in enumerate(entries)
    )
    return [item for item in found if item is not None]


def _item(
    file: Path, entry: Any, path: str, body_key: str, errors: list[ConfigError]
) -> Item | None:
    if not isinstance(entry, dict):
        errors.append(ConfigError(file, path, f"must be a mapping with keys id and {body_key}"))
        return None
    unknown = set(entry) - {"id", body_key}
    if unknown:
        errors.append(
            ConfigError(
                file, f"{path}.{sorted(unknown)[0]}", f"unknown key (known: id, {body_key})"
            )
        )
        return None
    config_id = entry.get("id")
    prefix = "" if path == "(top level)" else f"{path}."
    if not isinstance(config_id, str) or not ID_PATTERN.match(config_id):
        reason = f"must be lower-case letters, digits and dashes (at most 48), got {config_id!r}"
        errors.append(ConfigError(file, f"{prefix}id", reason))
        return None
    body = entry.get(body_key)
    if not isinstance(body, dict):
        errors.append(ConfigError(file, f"{prefix}{body_key}", "is required and must be a mapping"))
        return None
    return Item(config_id, body, file, f"{prefix}{body_key}")


def _slo_alerts(file: Path, errors: list[ConfigError]) -> Item | None:
    try:
        document = read_yaml(file)
    except ConfigError as error:
        errors.append(error)
        return None
    known = {"service", "severities", "documentation"}
    if not isinstance(document, dict):
        errors.append(
            ConfigError(file, "(top level)", f"must be a mapping with keys {sorted(known)}")
        )
        return None
    for key in sorted(set(document) ^ known):
        reason = "unknown key" if key in document else "is required"
        errors.append(ConfigError(file, key, f"{reason} (keys: {', '.join(sorted(known))})"))
    return Item("slo-alerts", document, file, "") if set(document) == known else None


def _check_unique_ids(kind: str, items: list[Item], errors: list[ConfigError]) -> None:
    seen: dict[str, Item] = {}
    for item in items:
        if item.config_id in seen:
            first = seen[item.config_id]
            reason = f"duplicate {kind} id {item.config_id!r} (first in {first.file}: {first.path})"
            errors.append(item.error("", reason))
        seen.setdefault(item.config_id, item)

"""Turn YAML items into the clients' own message types (a wrong field fails here, offline)."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format

from monitoring import identity
from monitoring.config import ConfigSet, Item
from monitoring.errors import ConfigError
from monitoring.kinds import Kind
from monitoring.resources import Desired
from monitoring.variables import Substitution

_RESERVED_LABELS = (identity.MANAGED_BY_KEY, identity.CONFIG_ID_KEY, identity.CONFIG_SHA_KEY)


def parse_message(kind: Kind, body: dict[str, Any], item: Item) -> Any:
    """API JSON -> proto-plus message; unknown fields and wrong types are ConfigErrors."""
    message_type = kind.message_type
    raw = message_type.pb()()
    try:
        json_format.ParseDict(body, raw, ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError) as error:
        subpath, reason = _locate(str(error))
        raise item.error(subpath, f"{reason} (in {raw.DESCRIPTOR.full_name})") from None
    return message_type.wrap(raw)


_WHERE = re.compile(r' at "?[A-Za-z]+\.?([^"\s]*?)"?\.*$')
_FIELD_CHAIN = re.compile(r"^(?:Failed to parse (\w+) field: )+")
_UNKNOWN = re.compile(r'has no field named "([^"]+)"')


def _locate(message: str) -> tuple[str, str]:
    """protobuf's 'Failed to parse a field: ... at "Type.path"' -> (path, the reason)."""
    first_line = message.splitlines()[0]
    chain = re.findall(r"Failed to parse (\w+) field: ", first_line)
    reason = _FIELD_CHAIN.sub("", first_line)
    where = _WHERE.search(reason)
    path = where.group(1) if where else ".".join(chain)
    reason = _WHERE.sub("", reason).rstrip(".")
    unknown = _UNKNOWN.search(reason)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        known = re.search(r"Available Fields\(except extensions\): \"\[(.*)\]\"", message)
        names = known.group(1).replace("'", "") if known else ""
        reason = f"unknown field (known: {names})" if names else "unknown field"
    return path, reason


def build_items(
    config: ConfigSet, substitution: Substitution, project: str
) -> tuple[list[Desired], list[ConfigError]]:
    """Every YAML-defined object; errors are collected so that all of them are reported."""
    built: list[Desired] = []
    errors: list[ConfigError] = []
    for kind, items in config.items.items():
        for item in items:
            seen = len(substitution.errors)
            body = substitution.apply(item.body, item.file, item.path)
            if len(substitution.errors) > seen:
                continue  # reported by the substitution; parsing would only repeat it
            try:
                built.append(_desired(kind, item, body, project))
            except ConfigError as error:
                errors.append(error)
    return built, errors


def _desired(kind: Kind, item: Item, body: dict[str, Any], project: str) -> Desired:
    if "name" in body:
        raise item.error("name", "is assigned by the toolkit (from the id) or by the API")
    message = parse_message(kind, body, item)
    labels = kind.labels(message)
    for key in _RESERVED_LABELS:
        if key in labels:
            raise item.error(f"{kind.label_json}.{key}", "is set by the toolkit")
    kind.stamp(message, item.config_id)
    return Desired(kind, item.config_id, message, f"{item.file}: {item.path}")


def stamp_digest(desired: Desired) -> Desired:
    """Record a digest of the final payload where its kind keeps it (see identity.py)."""
    message = type(desired.message)(desired.message)  # a copy: Desired stays immutable
    desired.kind.set_digest(message, None)
    serialized = type(message).pb(message).SerializeToString(deterministic=True)
    desired.kind.set_digest(message, identity.payload_digest(serialized))
    return desired.with_message(message, desired.pending)

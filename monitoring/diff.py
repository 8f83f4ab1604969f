"""Field-level comparison of a desired object with the one the API returns.

The API fills in fields itself (names, etags, creation records, condition names, chart
defaults such as a plot type or a y-axis scale, metric descriptor names...). Comparing whole
payloads would show changes forever, as Terraform does with dashboards. So the comparison
looks only at the fields the configuration sets: keys the API added are ignored, lists are
compared item by item, and a list of a different length is a change. A field removed from the
configuration cannot be told apart from a server default this way; the config-sha label (a
digest of the payload applied last, see identity.py) catches that case.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from monitoring.kinds import Kind

MISSING = object()
# Top-level fields the API owns: never compared, never in an update mask.
SERVER_OWNED = {
    "name",
    "etag",
    "creationRecord",
    "mutationRecord",
    "createTime",
    "updateTime",
    "version",
}


@dataclass(frozen=True)
class FieldChange:
    path: str  # in the API's JSON names, e.g. "conditions[0].conditionThreshold.thresholdValue"
    before: Any  # MISSING when the API does not have the field
    after: Any  # MISSING when the configuration drops a list item

    @property
    def top(self) -> str:
        """The top-level field it is in ("conditions" for "conditions[0].displayName")."""
        return self.path.split(".")[0].split("[")[0]

    def describe(self) -> str:
        return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"


@dataclass(frozen=True)
class Comparison:
    changes: tuple[FieldChange, ...]
    digest_differs: bool  # config-sha label: the configuration changed since the last apply
    mask: tuple[str, ...]  # proto field names for the update mask

    @property
    def differs(self) -> bool:
        return bool(self.changes) or self.digest_differs


def as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(type(message).pb(message))


# An SLO named in a filter, select_slo_*("projects/P/services/S/serviceLevelObjectives/O"):
# the API may echo P as the project number (names are projects/[PROJECT_ID_OR_NUMBER]/...).
_SLO_REFERENCE = re.compile(r'(select_slo_\w+\(\s*")projects/[^/"]+/')


def without_project(value: Any) -> Any:
    """The same JSON value with every SLO reference's project written as "-"."""
    if isinstance(value, dict):
        return {key: without_project(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_project(item) for item in value]
    if isinstance(value, str):
        return _SLO_REFERENCE.sub(r"\1projects/-/", value)
    return value


def compare(kind: Kind, desired: Any, actual: Any) -> Comparison:
    want, have = without_project(as_dict(desired)), without_project(as_dict(actual))
    label_key = kind.label_json
    want_digest, have_digest = kind.split_digest(want), kind.split_digest(have)
    for key in SERVER_OWNED:
        want.pop(key, None)
    changes = tuple(field_changes(want, have))
    digest_differs = want_digest is not None and want_digest != have_digest
    # The mask: only the fields whose values changed or, when something was removed from the
    # configuration (the digest differs, no set field does), the fields the YAML sets. Never
    # a field the server fills in (an uptime check's checkerType, a request method...).
    top = {change.top for change in changes}
    if digest_differs and not changes:
        top = set(want)
    if label_key and (changes or digest_differs):
        top.add(label_key)  # the labels carry the new digest
    if kind.updatable is not None:
        top &= kind.updatable  # the rest cannot change in place (plan: -/+ replace)
    return Comparison(changes, digest_differs, tuple(sorted(_field_names(desired, top))))


def field_changes(want: Any, have: Any, path: str = "") -> list[FieldChange]:
    """Differences in the fields `want` sets; what only `have` has is ignored."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [FieldChange(path, have, want)]
        found: list[FieldChange] = []
        for key, value in want.items():
            found += field_changes(value, have.get(key, MISSING), f"{path}.{key}" if path else key)
        return found
    if isinstance(want, list):
        if not isinstance(have, list):
            return [FieldChange(path, have, want)]
        found = []
        for index in range(max(len(want), len(have))):
            item_path = f"{path}[{index}]"
            if index >= len(have):
                found.append(FieldChange(item_path, MISSING, want[index]))
            elif index >= len(want):
                found.append(FieldChange(item_path, have[index], MISSING))
            else:
                found += field_changes(want[index], have[index], item_path)
        return found
    return [] if want == have else [FieldChange(path, have, want)]


def _field_names(message: Any, json_names: set[str]) -> list[str]:
    fields = type(message).pb(message).DESCRIPTOR.fields
    by_json = {field.json_name: field.name for field in fields}
    return [by_json[name] for name in json_names if name in by_json]


def _show(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."

"""What apply would do: create, update (with the changed fields), replace or delete.

Objects are matched by kind and their own id for the kinds whose ids the toolkit chooses (log
metrics, services, SLOs: never by a full name, which may carry the project number) and by the
config-id label for the others. Managed objects that are
no longer configured are deleted only with --prune; objects without the managed-by label are
never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitoring.diff import Comparison, compare
from monitoring.kinds import Kind
from monitoring.resources import Desired, Existing


@dataclass(frozen=True)
class Change:
    action: str  # "create" | "update" | "replace" | "delete"
    kind: Kind
    desired: Desired | None = None
    existing: Existing | None = None
    comparison: Comparison | None = None

    @property
    def label(self) -> str:
        return self.desired.label if self.desired else self.existing.label  # type: ignore[union-attr]


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[Existing] = field(default_factory=list)  # managed but unconfigured, no --prune

    def of_kind(self, kind: Kind) -> list[Change]:
        return [change for change in self.changes if change.kind is kind]

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def empty(self) -> bool:
        return not self.changes


def plan_kind(
    kind: Kind, desired: Iterable[Desired], existing: Iterable[Existing], prune: bool
) -> Plan:
    """Changes for one kind of object."""
    plan = Plan()
    matched: dict[str, Existing] = {}
    leftovers: list[Existing] = []
    for found in sorted(existing, key=lambda e: e.name):
        if found.key is not None and found.key not in matched:
            matched[found.key] = found
        elif found.managed:
            leftovers.append(found)  # a copy carrying the same config-id (e.g. from the console)
    for wanted in desired:
        found = matched.pop(wanted.key, None)
        if found is None:
            plan.changes.append(Change("create", kind, wanted))
            continue
        comparison = compare(kind, wanted.message, found.message)
        if _is_immutable_change(kind, comparison):
            plan.changes.append(Change("replace", kind, wanted, found, comparison))
        elif comparison.differs or wanted.pending:
            plan.changes.append(Change("update", kind, wanted, found, comparison))
        else:
            plan.unchanged.append(wanted.label)
    for found in [*matched.values(), *leftovers]:
        if not found.managed:
            continue  # same name as one of ours but not created by the toolkit: left alone
        if prune:
            plan.changes.append(Change("delete", kind, existing=found))
        else:
            plan.kept.append(found)
    return plan


def merge(plans: Iterable[Plan]) -> Plan:
    total = Plan()
    for plan in plans:
        total.changes += plan.changes
        total.unchanged += plan.unchanged
        total.kept += plan.kept
    return total


def _is_immutable_change(kind: Kind, comparison: Comparison) -> bool:
    """A change the API cannot make in place: a new object replaces the old one (each kind
    declares its immutable paths, or the only fields an update may change)."""
    for change in comparison.changes:
        top = change.top
        if change.path.startswith(kind.immutable_prefixes):
            return True
        if kind.updatable is not None and top not in kind.updatable:
            return True
    return False


def describe(plan: Plan, project: str) -> str:
    """A terraform-plan-like text of the changes."""
    symbols = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
    lines = []
    for change in plan.changes:
        where = f" ({change.existing.name})" if change.existing else ""
        lines.append(f"  {symbols[change.action]:>3} {change.action:<8}{change.label}{where}")
        if change.comparison is not None:
            lines += [f"          {item.describe()}" for item in change.comparison.changes]
            if change.comparison.digest_differs and not change.comparison.changes:
                lines.append(
                    "          (a field was removed from the configuration: "
                    "the object is rewritten as configured)"
                )
        if change.desired is not None:
            lines += [f"          {note}" for note in change.desired.pending]
    for found in plan.kept:
        lines.append(
            f"    = kept    {found.label} ({found.name}): no longer configured; --prune deletes it"
        )
    counts = plan.counts()
    lines = [f"Plan for project {project}:", *(["", *lines] if lines else []), ""]
    lines += [
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to delete, "
        f"{len(plan.unchanged)} unchanged.",
    ]
    if plan.empty:
        lines.append("No changes: the project matches the configuration.")
    return "\n".join(lines)

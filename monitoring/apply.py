"""Carry out a plan: creations and updates in dependency order, then deletions in reverse.

Each run starts from what the project holds, so a run that failed half-way is finished by
running it again: what was done shows as unchanged, the rest is still planned. A replacement
creates the new object before deleting the old one (alerts are repointed in between), except
for log-based metrics, whose successor has the same name: those are deleted first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitoring import kinds
from monitoring import plan as planning
from monitoring.api import ProjectApi
from monitoring.references import References
from monitoring.resources import Desired
from monitoring.state import State, finalize, uptime_check_ids


def apply_plan(
    api: ProjectApi,
    desired: tuple[Desired, ...],
    state: State,
    plan: planning.Plan,
    prune: bool,
    report: Callable[[str], None],
) -> int:
    """Make the planned changes; returns how many calls changed something. Raises ApiError."""
    done = 0
    new_uptime_ids: dict[str, str] = {}
    for kind in kinds.ALL:
        changes = plan.of_kind(kind)
        if kind is kinds.ALERT_POLICY and new_uptime_ids:
            changes = _replan_alert_policies(desired, state, plan, new_uptime_ids, prune)
        for change in changes:
            if change.action == "delete":
                continue
            result = _write(api, change, report)
            done += 1
            if kind is kinds.UPTIME_CHECK and change.action != "update":
                new_uptime_ids[change.desired.config_id] = result.name.rsplit("/", 1)[-1]
    for change in sorted(plan.changes, key=lambda c: -c.kind.order):
        if change.action == "replace" and change.kind.named:
            continue  # deleted before its successor was created (same name)
        if change.action in ("delete", "replace") and change.existing is not None:
            api.delete(change.existing)
            report(f"deleted  {change.existing.label} ({change.existing.name})")
            done += 1
    return done


def _write(api: ProjectApi, change: planning.Change, report: Callable[[str], None]) -> Any:
    if change.desired is None or change.desired.pending:
        raise RuntimeError(f"{change.label}: cannot be written: {change}")
    if change.action == "update" and change.existing is not None and change.comparison is not None:
        result = api.update(change.existing, change.desired, list(change.comparison.mask))
        report(f"updated  {change.label} ({result.name})")
        return result
    if change.action == "replace" and change.kind.named and change.existing is not None:
        # The successor takes the same name: the old one must go first.
        api.delete(change.existing)
        report(f"deleted  {change.existing.label} ({change.existing.name}) to replace it")
    result = api.create(change.desired)
    report(f"created  {change.label} ({result.name})")
    return result


def _replan_alert_policies(
    desired: tuple[Desired, ...],
    state: State,
    plan: planning.Plan,
    new_uptime_ids: dict[str, str],
    prune: bool,
) -> list[planning.Change]:
    """Alert policies again, now that the uptime checks just created have their ids."""
    uptime_changes = plan.of_kind(kinds.UPTIME_CHECK)
    replaced = {c.desired.config_id for c in uptime_changes if c.action == "replace" and c.desired}
    ids = uptime_check_ids(state.objects[kinds.UPTIME_CHECK], replaced) | new_uptime_ids
    policies = finalize(
        tuple(d for d in desired if d.kind is kinds.ALERT_POLICY), References(state.channels, ids)
    )
    fresh = planning.plan_kind(
        kinds.ALERT_POLICY, policies, state.objects[kinds.ALERT_POLICY], prune
    )
    return fresh.changes

"""Read what exists in the project and plan the changes that make it match the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring import kinds
from monitoring import plan as planning
from monitoring.api import ProjectApi
from monitoring.build import stamp_digest
from monitoring.kinds import Kind
from monitoring.references import References
from monitoring.resources import Desired, Existing, existing


@dataclass
class State:
    objects: dict[Kind, list[Existing]]
    channels: dict[str, list[str]]  # notification channels: display name -> resource names


def read_state(api: ProjectApi, desired: tuple[Desired, ...]) -> State:
    """List every kind (SLOs under the configured or managed services)."""
    objects = {
        kind: [existing(kind, message) for message in api.list(kind)]
        for kind in kinds.ALL
        if not kind.lists_under_parents
    }
    wanted_services = {d.key for d in desired if d.kind is kinds.SERVICE}
    parents = sorted(
        found.name  # as the API returns it: with the project id or its number
        for found in objects[kinds.SERVICE]
        if found.managed or found.key in wanted_services
    )
    objects[kinds.SLO] = [existing(kinds.SLO, message) for message in api.list(kinds.SLO, parents)]
    return State(objects, api.notification_channels())


def uptime_check_ids(objects: list[Existing], replaced: set[str]) -> dict[str, str]:
    """config id -> API id of the managed uptime checks that stay (not being replaced)."""
    return {
        found.key: found.name.rsplit("/", 1)[-1]
        for found in objects
        if found.managed and found.key and found.key not in replaced
    }


def finalize(desired: tuple[Desired, ...], references: References) -> tuple[Desired, ...]:
    """Resolve references and record each payload's digest: the payloads as they are sent."""
    return tuple(stamp_digest(item.kind.resolve(item, references)) for item in desired)


def make_plan(desired: tuple[Desired, ...], state: State, prune: bool) -> planning.Plan:
    uptime = [stamp_digest(d) for d in desired if d.kind is kinds.UPTIME_CHECK]
    uptime_plan = planning.plan_kind(
        kinds.UPTIME_CHECK, uptime, state.objects[kinds.UPTIME_CHECK], prune
    )
    replaced = {
        c.desired.config_id for c in uptime_plan.changes if c.action == "replace" and c.desired
    }
    references = References(
        state.channels, uptime_check_ids(state.objects[kinds.UPTIME_CHECK], replaced)
    )
    final = finalize(desired, references)
    plans = [
        uptime_plan
        if kind is kinds.UPTIME_CHECK
        else planning.plan_kind(
            kind, [d for d in final if d.kind is kind], state.objects[kind], prune
        )
        for kind in kinds.ALL
    ]
    return planning.merge(plans)

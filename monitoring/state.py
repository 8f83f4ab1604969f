"""Read what exists in the project and plan the changes that make it match the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring import plan as planning
from monitoring.api import ProjectApi
from monitoring.build import stamp_digest
from monitoring.identity import Kind
from monitoring.references import References, resolve
from monitoring.resources import Desired, Existing, desired_key, existing


@dataclass
class State:
    objects: dict[Kind, list[Existing]]
    channels: dict[str, list[str]]  # notification channels: display name -> resource names


def read_state(api: ProjectApi, desired: tuple[Desired, ...]) -> State:
    """List every kind (SLOs under the configured or managed services)."""
    objects = {
        kind: [existing(kind, message) for message in api.list(kind)]
        for kind in Kind
        if kind is not Kind.SLO
    }
    wanted_services = {desired_key(d) for d in desired if d.kind is Kind.SERVICE}
    parents = sorted(
        found.name  # as the API returns it: with the project id or its number
        for found in objects[Kind.SERVICE]
        if found.managed or found.key in wanted_services
    )
    objects[Kind.SLO] = [existing(Kind.SLO, message) for message in api.list(Kind.SLO, parents)]
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
    return tuple(stamp_digest(resolve(item, references)) for item in desired)


def make_plan(desired: tuple[Desired, ...], state: State, prune: bool) -> planning.Plan:
    uptime = [stamp_digest(d) for d in desired if d.kind is Kind.UPTIME_CHECK]
    uptime_plan = planning.plan_kind(
        Kind.UPTIME_CHECK, uptime, state.objects[Kind.UPTIME_CHECK], prune
    )
    replaced = {
        c.desired.config_id for c in uptime_plan.changes if c.action == "replace" and c.desired
    }
    references = References(
        state.channels, uptime_check_ids(state.objects[Kind.UPTIME_CHECK], replaced)
    )
    final = finalize(desired, references)
    plans = [
        uptime_plan
        if kind is Kind.UPTIME_CHECK
        else planning.plan_kind(
            kind, [d for d in final if d.kind is kind], state.objects[kind], prune
        )
        for kind in Kind
    ]
    return planning.merge(plans)

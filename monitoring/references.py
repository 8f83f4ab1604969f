"""References that only the project can answer: notification channels and uptime check ids.

Alert policies name notification channels by display name (or by full resource name), never by
hard-coded id, and refer to an uptime check of this configuration as `@{uptime_check:ID}`
(its id is assigned by the API when the check is created). Offline (render), both stay as
written; at plan time an uptime check still to be created is "known after apply".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitoring.errors import ConfigError
from monitoring.resources import Desired

UPTIME_REFERENCE = re.compile(r"@\{uptime_check:([^}]*)\}")
CHANNEL_PREFIX = "projects/"


@dataclass
class References:
    """What is known about the project; None channels means offline (nothing is looked up)."""

    channels: dict[str, list[str]] | None = None  # display name -> resource names
    uptime_check_ids: dict[str, str] = field(default_factory=dict)  # config id -> check id


def uptime_references(text: str) -> list[str]:
    return UPTIME_REFERENCE.findall(text)


def resolve(desired: Desired, references: References) -> Desired:
    """A copy of an alert policy with what can be resolved resolved (the alert-policy kind's
    `resolve`)."""
    policy = type(desired.message)(desired.message)
    pending: list[str] = []
    for condition in policy.conditions:
        # Touching an unset member of the `condition` oneof would select it: look first.
        member = type(condition).pb(condition).WhichOneof("condition")
        if member in ("condition_threshold", "condition_absent"):
            trigger = getattr(condition, member)
            trigger.filter = _resolve_uptime(trigger.filter, references, pending)
    if references.channels is not None:
        names = [
            _channel(entry, references.channels, desired) for entry in policy.notification_channels
        ]
        policy.notification_channels[:] = names
    return desired.with_message(policy, tuple(pending))


def _resolve_uptime(text: str, references: References, pending: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        check_id = references.uptime_check_ids.get(match.group(1))
        if check_id is None:
            pending.append(f"uptime check {match.group(1)}: id known after apply")
            return match.group(0)
        return check_id

    return UPTIME_REFERENCE.sub(replace, text)


def _channel(entry: str, channels: dict[str, list[str]], desired: Desired) -> str:
    if entry.startswith(CHANNEL_PREFIX):
        return entry
    found = channels.get(entry, [])
    if len(found) == 1:
        return found[0]
    file, _, path = desired.source.partition(": ")
    if not found:
        known = ", ".join(sorted(channels)) or "none"
        reason = f"no notification channel has the display name {entry!r} (known: {known})"
    else:
        reason = f"{len(found)} notification channels have the display name {entry!r}: {found}"
    raise ConfigError(file, f"{path}.notificationChannels", reason)

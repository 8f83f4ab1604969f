"""The desired objects (built from YAML) and the existing ones (read from the API)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitoring.kinds.base import Kind


@dataclass(frozen=True)
class Desired:
    """One object as the configuration wants it, in the client's own message type."""

    kind: Kind
    config_id: str
    message: Any  # a proto-plus message of kind.message_type
    source: str  # "file: path inside it", for messages
    parent: str = ""  # SLOs: the service's resource name
    pending: tuple[str, ...] = field(default=())  # references known only after apply

    def with_message(self, message: Any, pending: tuple[str, ...] = ()) -> Desired:
        return replace(self, message=message, pending=pending)

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.config_id}"

    @property
    def key(self) -> str:
        """What an existing object of the kind is matched on: its own id (kinds whose id the
        toolkit chooses; never the full name, which may carry the project number) or the
        config id (kinds the API names, found by their config-id label)."""
        return self.kind.own_id(self.message.name) if self.kind.named else self.config_id


@dataclass(frozen=True)
class Existing:
    """One object found in the project."""

    kind: Kind
    message: Any
    key: str | None  # what a Desired of the same kind is matched on; None: not the toolkit's
    managed: bool  # carries the managed-by label (or, for log metrics, the name and marker)

    @property
    def name(self) -> str:
        return self.message.name

    @property
    def label(self) -> str:
        shown = self.key or getattr(self.message, "display_name", "") or self.name
        return f"{self.kind.value} {shown}"


def existing(kind: Kind, message: Any) -> Existing:
    """Wrap an object read from the API with what identifies it."""
    return Existing(kind, message, kind.key_of(message), kind.is_managed(message))

"""What every kind of object declares, once, in its own module of monitoring/kinds/.

A kind is one `Kind` value: its message type, where its YAML lives, how an object is
identified (its own id, or the config-id label), which fields an update cannot change, the
API calls, and the checks of meaning `validate` runs on it. The rest of the toolkit (plan,
apply, diff, build, validate, render) works from these declarations only, in the spirit of
slo-generator's backends/: a new kind is a new module here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import proto
from google.protobuf import field_mask_pb2

from monitoring import identity
from monitoring.errors import ConfigError

if TYPE_CHECKING:
    from monitoring.clients import Clients
    from monitoring.references import References
    from monitoring.resources import Desired, Existing


@dataclass(frozen=True)
class YamlSource:
    """Where the definitions of a kind are: `pattern` under the configuration directory; each
    file holds a list of {id, BODY_KEY} under `list_key`, or is one such item (None)."""

    pattern: str
    list_key: str | None
    body_key: str


@dataclass(frozen=True)
class ApiContext:
    """What an API call needs: the clients, the project, the per-call timeout and retry."""

    clients: Clients
    project: str
    timeout: float
    retry: Any

    @property
    def parent(self) -> str:
        return f"projects/{self.project}"

    def client(self, kind: Kind) -> Any:
        return self.clients.get(*kind.client)

    @property
    def options(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "retry": self.retry}


@dataclass(frozen=True)
class Checks:
    """What the checks of one object may need to know about the others."""

    uptime_ids: set[str] = field(default_factory=set)


def unnamed(message: Any) -> Any:
    """A copy without its name: for creates that pass the id separately (the API names it)."""
    copy = type(message)(message)
    copy.name = ""
    return copy


def field_mask(paths: list[str]) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


def field_error(item: Desired, path: str, reason: str) -> ConfigError:
    """A ConfigError at `path` inside the object's definition (its source names file: path)."""
    file, _, inside = item.source.partition(": ")
    return ConfigError(file, f"{inside}.{path}" if path and inside else path or inside, reason)


def _no_checks(item: Desired, body: dict[str, Any], checks: Checks) -> list[ConfigError]:
    return []


def _unchanged(desired: Desired, references: References) -> Desired:
    return desired


@dataclass(frozen=True, eq=False)
class Kind:
    """One kind of Cloud Monitoring / Logging object (compared by identity, usable as a key)."""

    value: str  # "alert-policy": in plan lines and the render output
    order: int  # creation order: dependencies first
    message_type: type[proto.Message]
    client: tuple[type, type]  # (client class, its gRPC transport class)
    lister: Callable[[ApiContext, Sequence[str]], Iterable[Any]]  # (context, parent names)
    creator: Callable[[ApiContext, Desired], Any]
    updater: Callable[[ApiContext, Existing, Desired, list[str]], Any]  # (..., update mask)
    deleter: Callable[[ApiContext, Existing], Any]
    source: YamlSource | None = None  # None: generated (from slo/)
    label_field: str | None = "user_labels"  # the map holding the identity labels
    named: bool = False  # the toolkit chooses the id (matched on it), else config-id label
    immutable_prefixes: tuple[str, ...] = ()  # JSON paths an update cannot change
    updatable: frozenset[str] | None = None  # when the API lists them: the only top-level ones
    validate: Callable[[Desired, dict[str, Any], Checks], list[ConfigError]] = _no_checks
    resolve: Callable[[Desired, References], Desired] = _unchanged  # project-only references
    lists_under_parents: bool = False  # SLOs: listed per service

    def __repr__(self) -> str:
        return f"Kind({self.value})"

    @property
    def label_json(self) -> str:
        """The label map's API JSON name ("userLabels", "labels"), "" when there is none."""
        if self.label_field is None:
            return ""
        descriptor = self.message_type.pb().DESCRIPTOR.fields_by_name[self.label_field]
        return descriptor.json_name

    def own_id(self, name: str) -> str:
        """The object's own id from its resource name, whatever project form it carries
        (the API writes projects/[PROJECT_ID_OR_NUMBER]/...: compare ids, not names)."""
        return name.rsplit("/", 1)[-1]

    def labels(self, message: Any) -> dict[str, str]:
        return dict(getattr(message, self.label_field)) if self.label_field else {}

    def is_managed(self, message: Any) -> bool:
        return identity.is_managed(self.labels(message))

    def key_of(self, message: Any) -> str | None:
        """What a desired object of this kind is matched on; None: not the toolkit's."""
        if self.named:
            return self.own_id(message.name)
        return identity.config_id_of(self.labels(message))

    def stamp(self, message: Any, config_id: str) -> None:
        """Mark a freshly built object as the toolkit's (identity labels)."""
        getattr(message, self.label_field).update(identity.identity_labels(config_id))

    def split_digest(self, body: dict[str, Any]) -> str | None:
        """Remove the config-sha digest from an object's JSON; return it (None: absent)."""
        return body.get(self.label_json, {}).pop(identity.CONFIG_SHA_KEY, None)

    def set_digest(self, message: Any, digest: str | None) -> None:
        """Write the digest (None: remove it) where this kind keeps it."""
        labels = getattr(message, self.label_field) if self.label_field else None
        if labels is None:
            return
        labels.pop(identity.CONFIG_SHA_KEY, None)
        if digest is not None:
            labels[identity.CONFIG_SHA_KEY] = digest

"""Validation and update-mask semantics shared by the fake Monitoring and Logging APIs."""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.protobuf import empty_pb2, field_mask_pb2

from tests.monitoring.fake.server import Abort, CloudState, paginate

# Monitoring user labels: "keys and values can contain only lowercase letters, numerals,
# underscores, and dashes. Keys must begin with a letter." Each at most 63 characters.
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def invalid(message: str) -> Abort:
    return Abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(name: str) -> Abort:
    return Abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")


def already_exists(name: str) -> Abort:
    return Abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")


def check_user_labels(labels: Any, field: str = "user_labels") -> None:
    if len(labels) > 64:
        raise invalid(f"{field}: at most 64 labels")
    for key, value in labels.items():
        if not LABEL_KEY.match(key) or not LABEL_VALUE.match(value):
            raise invalid(f"{field}: invalid label {key!r}: {value!r}")


def copy_of(message: Any) -> Any:
    duplicate = type(message)()
    duplicate.CopyFrom(message)
    return duplicate


def masked_update(current: Any, incoming: Any, paths: list[str], keep: tuple[str, ...]) -> Any:
    """The update-mask rule of these APIs: with paths, only those fields are taken from the
    request (a path absent from the request clears the field); without, the object is
    replaced. Fields in `keep` (names, creation records) always stay the server's."""
    if paths:
        mask = field_mask_pb2.FieldMask(paths=paths)
        if not mask.IsValidForDescriptor(current.DESCRIPTOR):
            raise invalid(f"update_mask {paths} has a path that is not a field")
        updated = copy_of(current)
        mask.MergeMessage(
            incoming, updated, replace_message_field=True, replace_repeated_field=True
        )
    else:
        updated = copy_of(incoming)
    for name in keep:
        field = current.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None:
            if current.HasField(name):
                getattr(updated, name).CopyFrom(getattr(current, name))
        else:
            setattr(updated, name, getattr(current, name))
    return updated


def seconds(duration: Any) -> float:
    return duration.seconds + duration.nanos / 1e9


def list_page(
    state: CloudState, store: dict[str, Any], parent: str, request: Any, response: Any, field: str
) -> Any:
    """One page of the objects under `parent`, sorted by name, as a List response."""
    parent = state.numbered(parent)
    items = [copy_of(item) for name, item in sorted(store.items()) if name.startswith(f"{parent}/")]
    page, token = paginate(items, request.page_size, request.page_token, state.page_size)
    result = response.pb()()
    getattr(result, field).extend(page)
    result.next_page_token = token
    return result


def delete_named(state: CloudState, store: dict[str, Any], name: str) -> Any:
    """The Delete* methods: NOT_FOUND for an unknown name, else google.protobuf.Empty."""
    if store.pop(state.numbered(name), None) is None:
        raise not_found(name)
    return empty_pb2.Empty()

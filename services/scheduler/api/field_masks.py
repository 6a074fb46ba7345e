"""Update requests: which fields an `update_mask` changes, and that no other field changes.

As in Google's AIP-134, as far as Sluice's updates go: a mask's paths are top-level field
names (snake_case); an empty mask means every mutable field the message sets. Proto3
cannot tell a field set to its default ("", an empty map) from one left out, so clearing
a field takes a mask that names it. Fields outside the mutable ones identify the resource
or are fixed at creation: a request may repeat their stored values (a client sending back
what it read), never change them.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from services.core.errors import InvalidArgument


def updated_fields(message: Message, mask: FieldMask, *, mutable: Set[str]) -> frozenset[str]:
    """The fields an update changes: the mask's paths, or with an empty mask the mutable
    fields `message` sets.

    Raises:
        InvalidArgument: a path names a field that is not mutable, or no field at all.
    """
    if not mask.paths:
        return frozenset(name for name in mutable if is_set(message, name))
    kind = message.DESCRIPTOR.name
    for path in mask.paths:
        if path in mutable:
            continue
        if path in message.DESCRIPTOR.fields_by_name:
            raise InvalidArgument(
                f"update_mask: {kind}.{path} cannot be updated (only {_listed(mutable)} can)", field=path
            )
        raise InvalidArgument(
            f"update_mask: {kind} has no field {path!r} (the fields that can be updated are "
            f"{_listed(mutable)})",
            field=path,
        )
    return frozenset(mask.paths)


def check_unchanged(message: Message, stored: Message, *, mutable: Set[str]) -> None:
    """Check that every field of `message` outside `mutable` is unset or as `stored` has it.

    Raises:
        InvalidArgument: naming the first field that would change.
    """
    kind = message.DESCRIPTOR.name
    for name in message.DESCRIPTOR.fields_by_name:
        if name in mutable or not is_set(message, name):
            continue
        if _value(message, name) != _value(stored, name):
            raise InvalidArgument(
                f"{kind}.{name} cannot be changed (only {_listed(mutable)} can)", field=name
            )


def is_set(message: Message, name: str) -> bool:
    """Whether `message` sets field `name`: a message field present, any other field not
    at its default."""
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.message_type is not None and not field.is_repeated:
        return message.HasField(name)
    return bool(getattr(message, name))


def _value(message: Message, name: str) -> Any:
    """A field's value, comparable with ==."""
    field = message.DESCRIPTOR.fields_by_name[name]
    value = getattr(message, name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return dict(value)
    if field.is_repeated:
        return list(value)
    return value


def _listed(names: Set[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:-1]) + f" and {ordered[-1]}" if len(ordered) > 1 else ordered[0]

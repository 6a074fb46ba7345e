"""Records ⇄ JSON-able documents, losslessly, for every store that keeps documents.

Datetimes become fixed-width UTC ISO strings with microseconds
(`2024-05-01T12:00:00.000000+00:00`), which sort as text in time order; a naive datetime
is taken to be UTC. Enums become their values, nested dataclasses nested documents, and
JSON values (`JsonValue`) are deep-copied as they are. Decoding ignores keys the record
does not have (a document store's `_id`) and fills missing ones from the defaults, so
documents written before a field was added still load.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeAlias, TypeVar

from services.core.pipeline.model import JsonValue

R = TypeVar("R")

_Convert = Callable[[Any], Any]


class _Json:
    """Stands in for `JsonValue` while reading annotations: its recursive alias cannot be
    told apart from other unions once `typing` has evaluated it."""


def encode_datetime(value: datetime) -> str:
    """A fixed-width UTC ISO string with microseconds; text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_datetime(text: str) -> datetime:
    """An aware UTC datetime from `encode_datetime`'s output (or any ISO 8601 string)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_document(record: object) -> dict[str, JsonValue]:
    """A JSON-able dict holding every field of a record dataclass."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"not a dataclass instance: {record!r}")
    return {name: encode(getattr(record, name)) for name, encode, _ in _plan(type(record))}


def from_document(cls: type[R], document: Mapping[str, Any]) -> R:
    """The record of type `cls` that `to_document` turned into `document`."""
    values = {name: decode(document[name]) for name, _, decode in _plan(cls) if name in document}
    return cls(**values)


_Plan: TypeAlias = tuple[tuple[str, _Convert, _Convert], ...]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """(field name, encode, decode) for every field of a record class, worked out once."""
    plan = _PLANS.get(cls)
    if plan is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"not a dataclass: {cls!r}")
        hints = typing.get_type_hints(cls, localns={"JsonValue": _Json})
        plan = _PLANS[cls] = tuple((f.name, *_converters(hints[f.name])) for f in dataclasses.fields(cls))
    return plan


def _converters(hint: Any) -> tuple[_Convert, _Convert]:
    """(encode, decode) for one annotated type."""
    if hint is _Json:
        return copy.deepcopy, copy.deepcopy
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not types.NoneType]
        if len(members) != 1:
            raise TypeError(f"unsupported union in a record: {hint!r}")
        encode, decode = _converters(members[0])
        return _optional(encode), _optional(decode)
    if origin is list:
        encode, decode = _converters(args[0])
        return _each(encode), _each(decode)
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"record dicts must have str keys: {hint!r}")
        encode, decode = _converters(args[1])
        return _each_value(encode), _each_value(decode)
    if hint is datetime:
        return encode_datetime, decode_datetime
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum_value, hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return to_document, functools.partial(from_document, hint)
    if hint is float:
        return _same, float
    if hint in (str, int, bool):
        return _same, _same
    raise TypeError(f"unsupported type in a record: {hint!r}")


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Enum) -> Any:
    return value.value


def _optional(convert: _Convert) -> _Convert:
    return lambda value: None if value is None else convert(value)


def _each(convert: _Convert) -> _Convert:
    return lambda values: [convert(v) for v in values]


def _each_value(convert: _Convert) -> _Convert:
    return lambda values: {k: convert(v) for k, v in values.items()}

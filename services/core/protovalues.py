"""JSON values ⇄ protobuf `Value`/`Struct`/`Timestamp`, shared by every service edge.

Protobuf numbers are doubles; on the way out integral numbers become ints again, so
`[1, 4]` does not turn into `[1.0, 4.0]` (KFP_NOTES §2 "Numbers").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf import struct_pb2, timestamp_pb2

from services.core.pipeline.model import JsonValue

# Beyond 2**53 a double no longer holds every integer: such numbers stay floats.
_EXACT_INTEGER_LIMIT = 2**53


def to_value(value: JsonValue) -> struct_pb2.Value:
    """A protobuf `Value` holding a JSON value."""
    message = struct_pb2.Value()
    _fill_value(message, value)
    return message


def to_struct(values: Mapping[str, JsonValue]) -> struct_pb2.Struct:
    """A protobuf `Struct` holding a JSON object."""
    message = struct_pb2.Struct()
    _fill_struct(message, values)
    return message


def integral(value: JsonValue) -> JsonValue:
    """Turn integral floats back into ints, recursively."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INTEGER_LIMIT:
        return int(value)
    if isinstance(value, list):
        return [integral(item) for item in value]
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    return value


def from_value(message: struct_pb2.Value) -> JsonValue:
    """The JSON value of a protobuf `Value`; integral numbers become `int`."""
    kind = message.WhichOneof("kind")
    if kind == "number_value":
        return integral(message.number_value)
    if kind == "string_value":
        return message.string_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "struct_value":
        return from_struct(message.struct_value)
    if kind == "list_value":
        return [from_value(item) for item in message.list_value.values]
    return None


def from_struct(message: struct_pb2.Struct) -> dict[str, JsonValue]:
    """The JSON object of a protobuf `Struct`; integral numbers become `int`."""
    return {key: from_value(item) for key, item in message.fields.items()}


def values_map(values: Mapping[str, JsonValue]) -> dict[str, struct_pb2.Value]:
    return {name: to_value(value) for name, value in values.items()}


def from_values_map(values: Mapping[str, struct_pb2.Value]) -> dict[str, JsonValue]:
    return {name: from_value(value) for name, value in values.items()}


def _fill_value(message: struct_pb2.Value, value: JsonValue) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = float(value)
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, list):
        message.list_value.SetInParent()
        for item in value:
            _fill_value(message.list_value.values.add(), item)
    elif isinstance(value, dict):
        message.struct_value.SetInParent()
        _fill_struct(message.struct_value, value)
    else:
        raise TypeError(f"not a JSON value: {value!r}")


def _fill_struct(message: struct_pb2.Struct, values: Mapping[str, JsonValue]) -> None:
    for key, item in values.items():
        _fill_value(message.fields[key], item)


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment.astimezone(UTC))
    return message


def from_timestamp(message: timestamp_pb2.Timestamp) -> datetime | None:
    """An unset timestamp (zero seconds and nanos) is None."""
    if message.seconds == 0 and message.nanos == 0:
        return None
    return message.ToDatetime(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)

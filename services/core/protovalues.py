"""JSON values ⇄ protobuf `Value`/`Struct`/`Timestamp`, shared by every service edge.

Protobuf numbers are doubles; on the way out integral numbers become ints again, so
`[1, 4]` does not turn into `[1.0, 4.0]` (KFP_NOTES §2 "Numbers").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from services.core.pipeline.model import JsonValue


def to_value(value: JsonValue) -> struct_pb2.Value:
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = float(value)
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, list):
        message.list_value.values.extend(to_value(item) for item in value)
    else:
        message.struct_value.CopyFrom(to_struct(value))
    return message


def to_struct(value: Mapping[str, JsonValue]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    for key, item in value.items():
        message.fields[key].CopyFrom(to_value(item))
    return message


def integral(value: JsonValue) -> JsonValue:
    """Turn integral floats back into ints, recursively."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [integral(item) for item in value]
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    return value


def from_value(message: struct_pb2.Value) -> JsonValue:
    result: JsonValue = json_format.MessageToDict(message)
    return integral(result)


def from_struct(message: struct_pb2.Struct) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = json_format.MessageToDict(message)
    converted = integral(result)
    assert isinstance(converted, dict)
    return converted


def values_map(values: Mapping[str, JsonValue]) -> dict[str, struct_pb2.Value]:
    return {name: to_value(value) for name, value in values.items()}


def from_values_map(values: Mapping[str, struct_pb2.Value]) -> dict[str, JsonValue]:
    return {name: from_value(value) for name, value in values.items()}


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

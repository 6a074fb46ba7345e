"""List filters as keyword arguments, turned into KFP's filter JSON.

A keyword is a field, optionally with a lookup after two underscores::

    client.list_runs(state="FAILED")                          # EQUALS
    client.list_runs(state=["FAILED", "CANCELED"])            # IN
    client.list_runs(display_name__contains="train")          # IS_SUBSTRING (case-insensitive)
    client.list_runs(created_at__gte=datetime(2026, 1, 1, tzinfo=UTC))
    client.list_recurring_runs(max_concurrency__gt=1, no_catchup=True)

Lookups: `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `contains`. Values: text, numbers, booleans,
timezone-aware datetimes (naive ones are taken as local time), enums, and lists or tuples
for `in`. `None` leaves the filter out. The server checks the field names and value types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sluice.client import errors

FilterValue = str | int | float | bool | datetime | Enum | Sequence[str | int | Enum] | None

_OPERATIONS = {
    "": "EQUALS",
    "ne": "NOT_EQUALS",
    "gt": "GREATER_THAN",
    "gte": "GREATER_THAN_EQUALS",
    "lt": "LESS_THAN",
    "lte": "LESS_THAN_EQUALS",
    "in": "IN",
    "contains": "IS_SUBSTRING",
}


def _scalar(key: str, value: Any) -> tuple[str, Any]:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "bool_value", value
    if isinstance(value, int):
        return "long_value", value
    if isinstance(value, float):
        return "double_value", value
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return "timestamp_value", moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return "string_value", value
    raise errors.InvalidArgument(f"filter {key}: cannot filter by {value!r}")


def _values(key: str, value: Any) -> dict[str, Any]:
    items = [item.value if isinstance(item, Enum) else item for item in value]
    if items and all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return {"long_values": {"values": items}}
    if all(isinstance(item, str) for item in items):
        return {"string_values": {"values": items}}
    raise errors.InvalidArgument(f"filter {key}: 'in' takes a list of texts or of integers, got {value!r}")


def build_filter(filters: Mapping[str, FilterValue]) -> str:
    """The filter JSON for keyword filters; "" when there is none.

    Raises:
        InvalidArgument: an unknown lookup, or a value that cannot be filtered by.
    """
    predicates: list[dict[str, Any]] = []
    for key, value in filters.items():
        if value is None:
            continue
        field, _, lookup = key.partition("__")
        operation = _OPERATIONS.get(lookup)
        if operation is None or not field:
            known = ", ".join(name for name in _OPERATIONS if name)
            raise errors.InvalidArgument(f"filter {key}: unknown lookup {lookup!r}; known lookups: {known}")
        is_list = isinstance(value, list | tuple | set | frozenset)
        if is_list and operation in ("EQUALS", "IN"):
            predicates.append({"key": field, "operation": "IN", **_values(key, value)})
        elif operation == "IN" or is_list:
            raise errors.InvalidArgument(f"filter {key}: a list goes with 'in' only")
        else:
            value_key, scalar = _scalar(key, value)
            predicates.append({"key": field, "operation": operation, value_key: scalar})
    return json.dumps({"predicates": predicates}) if predicates else ""

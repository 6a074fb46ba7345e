"""KFP list parameters (`page_size`, `page_token`, `sort_by`, `filter`) → `ListQuery`.

What may be sorted and filtered is data: one `FieldTable` per resource, keyed by the
record attribute the stores index. KFP spellings are accepted wherever KFP clients send
them: camelCase or snake_case keys (`displayName`, `display_name`), `name` for a run's or
experiment's display name, operations as names or as the enum numbers of KFP's
`filter.proto` (`kfp.Client` sends `1` for EQUALS), value keys in either case.

Semantics every store implements: all predicates are ANDed; IS_SUBSTRING is
case-insensitive (as KFP on MySQL); strings compare by code point; a missing timestamp
(e.g. `finished_at` of a running run) matches NOT_EQUALS only, and sorts first
ascending, last descending.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from services.core.errors import InvalidArgument
from services.core.store.query import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    FilterValue,
    ListQuery,
    Operation,
    Predicate,
)
from services.core.store.records import RecurringRunStatus, RuntimeState, StorageState

# KFP v2beta1 filter.proto `Predicate.Operation` (4 is unused there).
OPERATION_NUMBERS: Mapping[int, Operation] = {
    1: Operation.EQUALS,
    2: Operation.NOT_EQUALS,
    3: Operation.GREATER_THAN,
    5: Operation.GREATER_THAN_EQUALS,
    6: Operation.LESS_THAN,
    7: Operation.LESS_THAN_EQUALS,
    8: Operation.IN,
    9: Operation.IS_SUBSTRING,
}

_ORDERING = frozenset(
    {Operation.GREATER_THAN, Operation.GREATER_THAN_EQUALS, Operation.LESS_THAN, Operation.LESS_THAN_EQUALS}
)


class FieldKind(StrEnum):
    STRING = "STRING"
    INT = "INT"
    BOOL = "BOOL"
    TIMESTAMP = "TIMESTAMP"
    ENUM = "ENUM"


# The operations each kind of field supports.
_OPERATIONS: Mapping[FieldKind, frozenset[Operation]] = {
    FieldKind.STRING: frozenset(Operation),
    FieldKind.INT: frozenset(Operation) - {Operation.IS_SUBSTRING},
    FieldKind.TIMESTAMP: _ORDERING | {Operation.EQUALS, Operation.NOT_EQUALS},
    FieldKind.ENUM: frozenset({Operation.EQUALS, Operation.NOT_EQUALS, Operation.IN}),
    FieldKind.BOOL: frozenset({Operation.EQUALS, Operation.NOT_EQUALS}),
}


@dataclass(frozen=True)
class FieldSpec:
    """One sortable, filterable attribute of a record."""

    name: str
    kind: FieldKind = FieldKind.STRING
    # The enum an ENUM field's values belong to.
    enum: type[StrEnum] | None = None


@dataclass(frozen=True)
class FieldTable:
    """What a list of one resource may be sorted and filtered by."""

    # Names the resource in page-token fingerprints, e.g. "runs".
    resource: str
    # The record's id attribute: the keyset tie-breaker of every sort.
    id_field: str
    fields: tuple[FieldSpec, ...]
    # KFP keys that name another field (after camelCase → snake_case), e.g. "name" → "display_name".
    aliases: Mapping[str, str]

    def field(self, name: str) -> FieldSpec:
        """The field of a record attribute name. Raises InvalidArgument."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise InvalidArgument(f"{self.resource} cannot be sorted or filtered by {name!r}", field=name)

    def resolve(self, key: str) -> FieldSpec:
        """The field a KFP key names (`displayName`, `display_name`, `name`…). Raises InvalidArgument."""
        snake = _snake_case(key.strip())
        name = self.aliases.get(snake, snake)
        try:
            return self.field(name)
        except InvalidArgument:
            known = ", ".join(sorted({s.name for s in self.fields} | set(self.aliases)))
            raise InvalidArgument(
                f"unknown field {key!r} for {self.resource}; known fields: {known}", field=key
            ) from None


def _table(resource: str, id_field: str, *fields: FieldSpec, **aliases: str) -> FieldTable:
    return FieldTable(
        resource=resource,
        id_field=id_field,
        fields=(FieldSpec(id_field), *fields),
        aliases={"id": id_field, **aliases},
    )


_CREATED_AT = FieldSpec("created_at", FieldKind.TIMESTAMP)
_STORAGE_STATE = FieldSpec("storage_state", FieldKind.ENUM, StorageState)

EXPERIMENT_FIELDS = _table(
    "experiments",
    "experiment_id",
    FieldSpec("display_name"),
    FieldSpec("description"),
    FieldSpec("namespace"),
    _STORAGE_STATE,
    _CREATED_AT,
    FieldSpec("last_run_created_at", FieldKind.TIMESTAMP),
    name="display_name",
)
PIPELINE_FIELDS = _table(
    "pipelines",
    "pipeline_id",
    FieldSpec("name"),
    FieldSpec("display_name"),
    FieldSpec("description"),
    FieldSpec("namespace"),
    _CREATED_AT,
)
PIPELINE_VERSION_FIELDS = _table(
    "pipeline_versions",
    "pipeline_version_id",
    FieldSpec("pipeline_id"),
    FieldSpec("name"),
    FieldSpec("display_name"),
    FieldSpec("description"),
    _CREATED_AT,
)
RUN_FIELDS = _table(
    "runs",
    "run_id",
    FieldSpec("display_name"),
    FieldSpec("description"),
    FieldSpec("namespace"),
    FieldSpec("experiment_id"),
    FieldSpec("pipeline_id"),
    FieldSpec("pipeline_version_id"),
    FieldSpec("recurring_run_id"),
    FieldSpec("state", FieldKind.ENUM, RuntimeState),
    _STORAGE_STATE,
    _CREATED_AT,
    FieldSpec("scheduled_at", FieldKind.TIMESTAMP),
    FieldSpec("finished_at", FieldKind.TIMESTAMP),
    name="display_name",
)
RECURRING_RUN_FIELDS = _table(
    "recurring_runs",
    "recurring_run_id",
    FieldSpec("display_name"),
    FieldSpec("description"),
    FieldSpec("namespace"),
    FieldSpec("experiment_id"),
    FieldSpec("pipeline_id"),
    FieldSpec("pipeline_version_id"),
    FieldSpec("status", FieldKind.ENUM, RecurringRunStatus),
    FieldSpec("max_concurrency", FieldKind.INT),
    FieldSpec("no_catchup", FieldKind.BOOL),
    _CREATED_AT,
    FieldSpec("updated_at", FieldKind.TIMESTAMP),
    name="display_name",
)
ARTIFACT_FIELDS = _table(
    "artifacts",
    "artifact_id",
    FieldSpec("name"),
    FieldSpec("uri"),
    FieldSpec("schema_title"),
    FieldSpec("run_id"),
    FieldSpec("task_id"),
    FieldSpec("output_key"),
    FieldSpec("size_bytes", FieldKind.INT),
    _CREATED_AT,
)


def parse_list_query(
    fields: FieldTable,
    *,
    page_size: int | str | None = None,
    page_token: str = "",
    sort_by: str = "",
    filter_json: str = "",
) -> ListQuery:
    """A `ListQuery` from KFP's list parameters. Raises InvalidArgument naming the problem."""
    sort_field, descending = parse_sort_by(sort_by, fields)
    return ListQuery(
        page_size=parse_page_size(page_size),
        page_token=page_token.strip(),
        sort_field=sort_field,
        sort_descending=descending,
        predicates=parse_filter(filter_json, fields),
    )


def parse_page_size(page_size: int | str | None) -> int:
    """0 or absent → the default; more than the maximum → the maximum; negative → InvalidArgument."""
    if page_size is None or page_size == "":
        return DEFAULT_PAGE_SIZE
    size = page_size
    if isinstance(size, str):
        try:
            size = int(size.strip())
        except ValueError:
            raise InvalidArgument(
                f"page_size must be an integer, got {page_size!r}", field="page_size"
            ) from None
    if isinstance(size, bool) or size < 0:
        raise InvalidArgument(f"page_size must not be negative, got {page_size!r}", field="page_size")
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def parse_sort_by(sort_by: str, fields: FieldTable) -> tuple[str, bool]:
    """("created_at", False) from "", ("display_name", True) from "displayName desc"."""
    words = sort_by.split()
    if not words:
        return "created_at", False
    if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
        raise InvalidArgument(f"sort_by must be 'field' or 'field desc', got {sort_by!r}", field="sort_by")
    try:
        spec = fields.resolve(words[0])
    except InvalidArgument as e:
        raise InvalidArgument(f"sort_by: {e.message}", field="sort_by") from None
    return spec.name, len(words) == 2 and words[1].lower() == "desc"


def parse_filter(filter_json: str, fields: FieldTable) -> tuple[Predicate, ...]:
    """The predicates of KFP's filter JSON (`{"predicates": [...]}`), checked against `fields`."""
    text = filter_json.strip()
    if not text:
        return ()
    if not text.startswith("{"):
        # Still percent-encoded: KFP's own server URL-decodes the filter once more.
        text = urllib.parse.unquote(text)
    try:
        document = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"filter is not valid JSON: {e}", field="filter") from None
    if not isinstance(document, dict):
        raise InvalidArgument("filter must be a JSON object with 'predicates'", field="filter")
    unknown = set(document) - {"predicates"}
    if unknown:
        raise InvalidArgument(f"filter has unknown keys: {', '.join(sorted(unknown))}", field="filter")
    raw_predicates = document.get("predicates")
    if raw_predicates is None:
        return ()
    if not isinstance(raw_predicates, list):
        raise InvalidArgument("filter 'predicates' must be a list", field="filter")
    return tuple(_parse_predicate(raw, fields) for raw in raw_predicates)


def check_query(query: ListQuery, fields: FieldTable) -> None:
    """Stores call this on every query they are given (callers may build `ListQuery` by
    hand). Raises InvalidArgument for an unknown sort or filter field or a value of the
    wrong type for its field or operation."""
    fields.field(query.sort_field)
    for predicate in query.predicates:
        spec = fields.field(predicate.field)
        _check_operation(spec, predicate.operation)
        values = predicate.value if isinstance(predicate.value, tuple) else (predicate.value,)
        if (predicate.operation is Operation.IN) != isinstance(predicate.value, tuple):
            raise InvalidArgument(
                f"filter on {spec.name!r}: IN takes a tuple of values, other operations one value",
                field=spec.name,
            )
        for value in values:
            if not _has_kind(value, spec):
                raise InvalidArgument(
                    f"filter on {spec.name!r}: {value!r} is not a {spec.kind.lower()} value", field=spec.name
                )


def _has_kind(value: object, spec: FieldSpec) -> bool:
    match spec.kind:
        case FieldKind.STRING:
            return isinstance(value, str)
        case FieldKind.INT:
            return isinstance(value, int | float) and not isinstance(value, bool)
        case FieldKind.BOOL:
            return isinstance(value, bool)
        case FieldKind.TIMESTAMP:
            return isinstance(value, datetime) and value.tzinfo is not None
        case FieldKind.ENUM:
            return spec.enum is not None and isinstance(value, str) and value in {m.value for m in spec.enum}


def _check_operation(spec: FieldSpec, operation: Operation) -> None:
    if operation not in _OPERATIONS[spec.kind]:
        raise InvalidArgument(
            f"filter on {spec.name!r}: {operation} does not apply to a {spec.kind.lower()} field",
            field=spec.name,
        )


# --- one predicate ------------------------------------------------------------------------

_SCALAR_KEYS = ("string_value", "int_value", "long_value", "double_value", "bool_value", "timestamp_value")
_LIST_KEYS = ("string_values", "int_values", "long_values")


def _parse_predicate(raw: object, fields: FieldTable) -> Predicate:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"a filter predicate must be an object, got {raw!r}", field="filter")
    predicate = {_snake_case(str(k)): v for k, v in raw.items()}
    key = predicate.pop("key", None)
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"filter predicate without a 'key': {raw!r}", field="filter")
    spec = fields.resolve(key)
    operation = _parse_operation(predicate.pop("operation", None), key)
    _check_operation(spec, operation)
    unknown = set(predicate) - set(_SCALAR_KEYS) - set(_LIST_KEYS)
    if unknown:
        raise InvalidArgument(f"filter on {key!r}: unknown keys {', '.join(sorted(unknown))}", field=key)
    if len(predicate) != 1:
        raise InvalidArgument(f"filter on {key!r}: needs exactly one value, got {len(predicate)}", field=key)
    ((value_key, raw_value),) = predicate.items()
    if operation is Operation.IN:
        if value_key not in _LIST_KEYS:
            raise InvalidArgument(
                f"filter on {key!r}: IN needs string_values, int_values or long_values, got {value_key}",
                field=key,
            )
        items = raw_value.get("values") if isinstance(raw_value, dict) else raw_value
        if not isinstance(items, list):
            raise InvalidArgument(f"filter on {key!r}: {value_key} must be {{'values': [...]}}", field=key)
        value_type = value_key.removesuffix("s")
        values = tuple(_coerce_member(spec, value_type, item, key) for item in items)
        return Predicate(field=spec.name, operation=operation, value=values)
    if value_key not in _SCALAR_KEYS:
        raise InvalidArgument(f"filter on {key!r}: {value_key} only goes with the IN operation", field=key)
    return Predicate(field=spec.name, operation=operation, value=_coerce(spec, value_key, raw_value, key))


def _parse_operation(raw: object, key: str) -> Operation:
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        number = int(raw)
    elif isinstance(raw, str):
        try:
            return Operation(raw.strip().upper())
        except ValueError:
            raise InvalidArgument(f"filter on {key!r}: unknown operation {raw!r}", field=key) from None
    else:
        raise InvalidArgument(f"filter on {key!r}: missing or malformed operation {raw!r}", field=key)
    if number not in OPERATION_NUMBERS:
        raise InvalidArgument(f"filter on {key!r}: unknown operation {raw!r}", field=key)
    return OPERATION_NUMBERS[number]


def _coerce_member(spec: FieldSpec, value_type: str, raw: object, key: str) -> str | int:
    """One value of an IN list."""
    value = _coerce(spec, value_type, raw, key)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise InvalidArgument(f"filter on {key!r}: IN does not take {value!r}", field=key)


def _coerce(spec: FieldSpec, value_type: str, raw: object, key: str) -> FilterValue:
    """A JSON value given under `value_type` (e.g. "long_value") as a value of `spec`'s kind."""

    def mismatch() -> InvalidArgument:
        return InvalidArgument(
            f"filter on {key!r}: {value_type} {raw!r} does not fit a {spec.kind.lower()} field", field=key
        )

    match spec.kind, value_type:
        case FieldKind.STRING, "string_value":
            if isinstance(raw, str):
                return raw
        case FieldKind.ENUM, "string_value":
            if isinstance(raw, str) and spec.enum is not None:
                try:
                    return spec.enum(raw.strip().upper())
                except ValueError:
                    allowed = ", ".join(spec.enum)
                    raise InvalidArgument(
                        f"filter on {key!r}: {raw!r} is not one of {allowed}", field=key
                    ) from None
        case FieldKind.INT, "int_value" | "long_value":
            return _integer(raw, mismatch)
        case FieldKind.INT, "double_value":
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return raw
        case FieldKind.BOOL, "bool_value":
            if isinstance(raw, bool):
                return raw
        case FieldKind.TIMESTAMP, "timestamp_value":
            return _timestamp(raw, mismatch)
        case FieldKind.TIMESTAMP, "int_value" | "long_value":
            # KFP keeps timestamps as epoch seconds; old clients filter with long_value.
            return _from_seconds(_integer(raw, mismatch), mismatch)
    raise mismatch()


def _integer(raw: object, mismatch: Callable[[], InvalidArgument]) -> int:
    # proto3 JSON sends 64-bit integers as strings.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d+\s*", raw):
        return int(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise mismatch()


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _timestamp(raw: object, mismatch: Callable[[], InvalidArgument]) -> datetime:
    """RFC 3339 text (nanoseconds are cut to microseconds), epoch seconds, or {seconds, nanos}."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _from_seconds(raw, mismatch)
    if isinstance(raw, dict) and set(raw) <= {"seconds", "nanos"}:
        seconds = _integer(raw.get("seconds", 0), mismatch)
        nanos = _integer(raw.get("nanos", 0), mismatch)
        return _from_seconds(seconds, mismatch).replace(microsecond=nanos // 1000)
    if not isinstance(raw, str):
        raise mismatch()
    text = raw.strip()
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
        return _from_seconds(float(text), mismatch)
    try:
        value = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    except ValueError:
        raise mismatch() from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _from_seconds(seconds: float, mismatch: Callable[[], InvalidArgument]) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise mismatch() from None


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()

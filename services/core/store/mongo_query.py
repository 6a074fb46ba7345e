"""`ListQuery` → MongoDB: a filter from predicates and scope, a keyset sort and cursor.

Field names come from the `FieldTable`, never from the caller; values go in as values, so
nothing the caller sends becomes an operator. Semantics match `filters` and the SQLite
store: a missing timestamp is null, which `$gt`/`$lt` never match (MongoDB compares only
values of the same type) and `$ne` does, and which sorts first ascending, last descending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pymongo import ASCENDING, DESCENDING

from services.core.store.codec import encode_datetime
from services.core.store.filters import FieldKind, FieldTable
from services.core.store.paging import Cursor
from services.core.store.query import ListQuery, Operation, Predicate

Filter = dict[str, Any]

_OPERATORS = {
    Operation.NOT_EQUALS: "$ne",
    Operation.GREATER_THAN: "$gt",
    Operation.GREATER_THAN_EQUALS: "$gte",
    Operation.LESS_THAN: "$lt",
    Operation.LESS_THAN_EQUALS: "$lte",
}


def field_value(value: object) -> Any:
    """A record attribute (or filter value) as it is stored in a document field."""
    if isinstance(value, datetime):
        return encode_datetime(value)
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass(frozen=True)
class ListFind:
    """What `find` and `count_documents` take for one page."""

    count_filter: Filter
    find_filter: Filter
    sort: list[tuple[str, int]]


def list_find(
    fields: FieldTable, query: ListQuery, *, scope: Mapping[str, str], cursor: Cursor | None
) -> ListFind:
    """The filtered set (to count) and the part of it after `cursor`, in (sort, id) order."""
    conditions: list[Filter] = [{name: value} for name, value in scope.items()]
    conditions += [_predicate_filter(fields, predicate) for predicate in query.predicates]
    count_filter = _all_of(conditions)
    sort_field, id_field = query.sort_field, fields.id_field
    direction = DESCENDING if query.sort_descending else ASCENDING
    sort = [(sort_field, direction)]
    if sort_field != id_field:
        sort.append((id_field, direction))
    if cursor is not None:
        conditions.append(_after(cursor, sort_field, id_field, descending=query.sort_descending))
    return ListFind(count_filter=count_filter, find_filter=_all_of(conditions), sort=sort)


def _all_of(conditions: list[Filter]) -> Filter:
    if not conditions:
        return {}
    if len(conditions) == 1:
        return conditions[0]
    return {"$and": conditions}


def _predicate_filter(fields: FieldTable, predicate: Predicate) -> Filter:
    spec = fields.field(predicate.field)
    name, operation, value = spec.name, predicate.operation, predicate.value
    if operation is Operation.NOT_EQUALS and spec.kind is FieldKind.TIMESTAMP:
        # `$ne` alone matches null on MongoDB but not on nx-27017; spelled out, on both.
        return {"$or": [{name: {"$ne": field_value(value)}}, {name: None}]}
    if operation is Operation.EQUALS:
        return {name: field_value(value)}
    if operation is Operation.IN:
        members = value if isinstance(value, tuple) else (value,)
        return {name: {"$in": [field_value(v) for v in members]}}
    if operation is Operation.IS_SUBSTRING:
        # Escaped: the caller's text is matched literally, case-insensitively.
        return {name: {"$regex": re.escape(str(value)), "$options": "i"}}
    return {name: {_OPERATORS[operation]: field_value(value)}}


def _after(cursor: Cursor, sort_field: str, id_field: str, *, descending: bool) -> Filter:
    """Strictly after the cursor in (sort value, id) order, nulls first ascending."""
    beyond = "$lt" if descending else "$gt"
    if sort_field == id_field:
        return {id_field: {beyond: cursor.last_id}}
    value = field_value(cursor.sort_value)
    tie = {sort_field: value, id_field: {beyond: cursor.last_id}}
    if value is None:
        # Ascending, every non-null value still follows; descending, only null ties do.
        return tie if descending else {"$or": [tie, {sort_field: {"$ne": None}}]}
    clauses: list[Filter] = [{sort_field: {beyond: value}}, tie]
    if descending:
        clauses.append({sort_field: None})
    return {"$or": clauses}

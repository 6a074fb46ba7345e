"""`ListQuery` → SQLite: WHERE from predicates and scope, keyset ORDER BY and cursor.

Column and table names come from the schema, never from the caller; values are always
bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.core.store.filters import FieldKind
from services.core.store.paging import Cursor
from services.core.store.query import ListQuery, Operation, Predicate
from services.core.store.sqlite_schema import SqlValue, Table, column_value

# A Python function registered on the connection: case-insensitive, Unicode-aware.
CONTAINS_FUNCTION = "sluice_contains"

_COMPARISONS = {
    Operation.EQUALS: "=",
    Operation.NOT_EQUALS: "!=",
    Operation.GREATER_THAN: ">",
    Operation.GREATER_THAN_EQUALS: ">=",
    Operation.LESS_THAN: "<",
    Operation.LESS_THAN_EQUALS: "<=",
}


def contains(haystack: object, needle: object) -> bool:
    return str(needle).casefold() in str(haystack).casefold()


@dataclass(frozen=True)
class ListSql:
    count: str
    count_params: list[SqlValue]
    select: str
    select_params: list[SqlValue]


def list_sql(
    table: Table[Any],
    query: ListQuery,
    *,
    scope: Mapping[str, str],
    cursor: Cursor | None,
    limit: int | None,
) -> ListSql:
    """Counting the filtered set and selecting `limit` docs after `cursor`, in (sort, id) order."""
    conditions: list[str] = []
    params: list[SqlValue] = []
    for column, value in scope.items():
        conditions.append(f"{column} = ?")
        params.append(value)
    for predicate in query.predicates:
        condition, values = _predicate_sql(table, predicate)
        conditions.append(condition)
        params.extend(values)
    where = " AND ".join(conditions) or "1"
    count = f"SELECT COUNT(*) FROM {table.name} WHERE {where}"

    sort, id_column = query.sort_field, table.id_column
    direction = "DESC" if query.sort_descending else "ASC"
    select_conditions, select_params = list(conditions), list(params)
    if cursor is not None:
        select_conditions.append(f"({sort}, {id_column}) {'<' if query.sort_descending else '>'} (?, ?)")
        select_params += [column_value(cursor.sort_value), cursor.last_id]
    select = (
        f"SELECT doc FROM {table.name} WHERE {' AND '.join(select_conditions) or '1'} "
        f"ORDER BY {sort} {direction}, {id_column} {direction}"
    )
    if limit is not None:
        select += " LIMIT ?"
        select_params.append(limit)
    return ListSql(count=count, count_params=params, select=select, select_params=select_params)


def _predicate_sql(table: Table[Any], predicate: Predicate) -> tuple[str, list[SqlValue]]:
    spec = table.list_fields.field(predicate.field)
    column, operation, value = spec.name, predicate.operation, predicate.value
    if operation is Operation.IN:
        members = value if isinstance(value, tuple) else (value,)
        if not members:
            return "0", []
        return f"{column} IN ({', '.join('?' * len(members))})", [column_value(v) for v in members]
    if operation is Operation.IS_SUBSTRING:
        return f"{CONTAINS_FUNCTION}({column}, ?)", [column_value(value)]
    condition = f"{column} {_COMPARISONS[operation]} ?"
    if spec.kind is FieldKind.TIMESTAMP and operation in (Operation.LESS_THAN, Operation.LESS_THAN_EQUALS):
        # A missing timestamp is stored as "", which would otherwise be less than any time.
        condition = f"({condition} AND {column} != '')"
    return condition, [column_value(value)]

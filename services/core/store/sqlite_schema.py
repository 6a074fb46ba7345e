"""The SQLite store's tables: a real column for everything that is filtered, sorted or
looked up, an index for every list query, and the whole record as a JSON `doc` column.

The filterable columns of a listable table are exactly its `FieldTable`'s fields, so
whatever `filters` accepts has a column. Column values are comparable as stored:
timestamps are `codec.encode_datetime` text (a missing one is "", which sorts first),
enums their values, booleans 0/1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeAlias, TypeVar

from services.core.store import filters
from services.core.store.codec import encode_datetime, from_document, to_document
from services.core.store.filters import FieldKind, FieldSpec, FieldTable
from services.core.store.records import (
    ArtifactRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
    RuntimeState,
    TaskRecord,
)

R = TypeVar("R")
SqlValue: TypeAlias = str | int | float | None

SCHEMA_VERSION = 1

_SQL_TYPES = {
    FieldKind.STRING: "TEXT",
    FieldKind.ENUM: "TEXT",
    FieldKind.TIMESTAMP: "TEXT",
    FieldKind.INT: "INTEGER",
    FieldKind.BOOL: "INTEGER",
}
_VERSION = FieldSpec("version", FieldKind.INT)


def column_value(value: object) -> SqlValue:
    """A record attribute (or filter value) as it is stored in its column."""
    match value:
        case None:
            return ""
        case datetime():
            return encode_datetime(value)
        case Enum():
            return str(value.value)
        case bool():
            return int(value)
        case str() | int() | float():
            return value
    raise TypeError(f"no column value for {value!r}")


@dataclass(frozen=True)
class Table(Generic[R]):
    name: str
    # The resource's name in errors ("pipeline version").
    kind: str
    record: type[R]
    # The id attribute first; every column is a record attribute of the same name.
    columns: tuple[FieldSpec, ...]
    # What a list of this resource may be sorted and filtered by (None: not listable).
    fields: FieldTable | None = None
    # Unique column sets besides the id; the last column names the resource in AlreadyExists.
    uniques: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    # Updates are compare-and-set on a `version` column.
    versioned: bool = False

    @property
    def id_column(self) -> str:
        return self.columns[0].name

    @property
    def list_fields(self) -> FieldTable:
        if self.fields is None:
            raise TypeError(f"{self.name} cannot be listed")
        return self.fields

    def ddl(self) -> list[str]:
        columns = [f"{self.id_column} TEXT PRIMARY KEY"]
        columns += [f"{c.name} {_SQL_TYPES[c.kind]} NOT NULL" for c in self.columns[1:]]
        columns += ["doc TEXT NOT NULL"]
        columns += [f"UNIQUE ({', '.join(unique)})" for unique in self.uniques]
        statements = [f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(columns) + "\n)"]
        for index in self.indexes:
            name = f"{self.name}__{'__'.join(index)}"
            statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {self.name} ({', '.join(index)})")
        return statements

    @property
    def insert_sql(self) -> str:
        names = [c.name for c in self.columns] + ["doc"]
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    def update_sql(self, *, compare_version: bool) -> str:
        """Parameters: `update_values(record)`, then the id, then the expected version."""
        assignments = ", ".join(f"{c.name} = ?" for c in self.columns[1:])
        where = f"{self.id_column} = ?" + (" AND version = ?" if compare_version else "")
        return f"UPDATE {self.name} SET {assignments}, doc = ? WHERE {where}"

    def row(self, record: R) -> list[SqlValue]:
        """The `insert_sql` parameters."""
        return [column_value(getattr(record, c.name)) for c in self.columns] + [encode_doc(record)]

    def update_values(self, record: R) -> list[SqlValue]:
        return self.row(record)[1:]

    def decode(self, doc: str) -> R:
        return from_document(self.record, json.loads(doc))

    def conflict(self, message: str, record: R) -> tuple[str, str]:
        """(kind, identifier) for AlreadyExists from SQLite's 'UNIQUE constraint failed: …'."""
        for unique in self.uniques:
            if ", ".join(f"{self.name}.{c}" for c in unique) in message:
                return self.kind, str(getattr(record, unique[-1]))
        return self.kind, str(getattr(record, self.id_column))


def encode_doc(record: Any) -> str:
    return json.dumps(to_document(record), separators=(",", ":"))


def _listable(
    name: str,
    kind: str,
    record: type[R],
    fields: FieldTable,
    *,
    uniques: tuple[tuple[str, ...], ...] = (),
    indexes: Sequence[tuple[str, ...]],
    versioned: bool = False,
) -> Table[R]:
    """A table whose columns are its list fields. The usual sort keys (names, timestamps)
    get an (…, id) index for keyset paging; `indexes` adds the scoped and filtered ones."""
    id_field = fields.id_field
    sort_indexes = [
        (f.name, id_field)
        for f in fields.fields[1:]
        if f.kind is FieldKind.TIMESTAMP or f.name in ("name", "display_name")
    ]
    return Table(
        name=name,
        kind=kind,
        record=record,
        columns=fields.fields + ((_VERSION,) if versioned else ()),
        fields=fields,
        uniques=uniques,
        indexes=(*sort_indexes, *indexes),
        versioned=versioned,
    )


EXPERIMENTS = _listable(
    "experiments",
    "experiment",
    ExperimentRecord,
    filters.EXPERIMENT_FIELDS,
    uniques=(("namespace", "display_name"),),
    indexes=[("namespace", "created_at", "experiment_id")],
)
PIPELINES = _listable(
    "pipelines",
    "pipeline",
    PipelineRecord,
    filters.PIPELINE_FIELDS,
    uniques=(("namespace", "name"),),
    indexes=[("namespace", "created_at", "pipeline_id")],
)
PIPELINE_VERSIONS = _listable(
    "pipeline_versions",
    "pipeline version",
    PipelineVersionRecord,
    filters.PIPELINE_VERSION_FIELDS,
    uniques=(("pipeline_id", "name"),),
    indexes=[
        ("pipeline_id", "created_at", "pipeline_version_id"),
        ("pipeline_id", "display_name", "pipeline_version_id"),
    ],
)
RUNS = _listable(
    "runs",
    "run",
    RunRecord,
    filters.RUN_FIELDS,
    indexes=[
        ("experiment_id", "created_at", "run_id"),
        ("namespace", "created_at", "run_id"),
        ("state", "created_at", "run_id"),
        ("recurring_run_id", "state"),
        ("pipeline_version_id", "created_at", "run_id"),
    ],
    versioned=True,
)
RECURRING_RUNS = _listable(
    "recurring_runs",
    "recurring run",
    RecurringRunRecord,
    filters.RECURRING_RUN_FIELDS,
    indexes=[
        ("experiment_id", "created_at", "recurring_run_id"),
        ("namespace", "created_at", "recurring_run_id"),
        ("status", "created_at", "recurring_run_id"),
    ],
    versioned=True,
)
ARTIFACTS = _listable(
    "artifacts",
    "artifact",
    ArtifactRecord,
    filters.ARTIFACT_FIELDS,
    indexes=[("run_id", "created_at", "artifact_id"), ("task_id", "created_at", "artifact_id")],
)
TASKS: Table[TaskRecord] = Table(
    name="tasks",
    kind="task",
    record=TaskRecord,
    columns=(
        FieldSpec("task_id"),
        FieldSpec("run_id"),
        FieldSpec("path"),
        FieldSpec("create_time", FieldKind.TIMESTAMP),
        FieldSpec("state", FieldKind.ENUM, RuntimeState),
        FieldSpec("fingerprint"),
        FieldSpec("cached_from_task_id"),
        _VERSION,
    ),
    uniques=(("run_id", "path"),),
    indexes=(("run_id", "create_time", "path"), ("fingerprint", "state", "create_time", "task_id")),
    versioned=True,
)

TABLES: tuple[Table[Any], ...] = (
    EXPERIMENTS,
    PIPELINES,
    PIPELINE_VERSIONS,
    RUNS,
    TASKS,
    RECURRING_RUNS,
    ARTIFACTS,
)

"""The MongoDB store's collections: one per record type, its indexes, and records ⇄ documents.

A document is `codec.to_document(record)` plus `_id` (the record's id): every field at the
top level under its own name, timestamps as fixed-width UTC strings (BSON dates keep only
milliseconds, which would break keyset paging on microsecond timestamps), enums as their
values, a missing timestamp as null (which sorts first, as in every store). The id stays in
its own field as well as in `_id`: the sort indexes end in it for keyset paging, and a
compound index cannot include `_id` on nx-27017 (the MongoDB stand-in the tests run on);
on MongoDB the copy costs a few bytes and nothing else.

Free-form JSON (pipeline specs, parameters, metadata) may have any key, but MongoDB gives
`.` and a leading `$` meaning (`{"$ref": …, "$id": …}` even comes back as a DBRef) and BSON
cannot hold NUL in a key, so every key is stored with `%`, `.`, `$` and NUL
percent-encoded (`%25`, `%2E`, `%24`, `%00`) and decoded on the way back; the empty key,
which MongoDB stores but handles poorly in updates, becomes a lone `%` (which no other key
encodes to). Record field names contain none of these, so top-level fields keep their
names and stay queryable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING, IndexModel

from services.core.store import filters
from services.core.store.codec import from_document, to_document
from services.core.store.filters import FieldKind, FieldTable
from services.core.store.records import (
    ArtifactRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
)

R = TypeVar("R")
Document = dict[str, Any]

_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\0": "%00"}
_UNESCAPES = {escaped: char for char, escaped in _ESCAPES.items()}
_TO_ESCAPE = re.compile(r"[%.$\0]")
_TO_UNESCAPE = re.compile(r"%(?:25|2E|24|00)")
_EMPTY_KEY = "%"


@dataclass(frozen=True)
class Collection(Generic[R]):
    name: str
    # The resource's name in errors ("pipeline version").
    kind: str
    record: type[R]
    id_field: str
    # What a list of this resource may be sorted and filtered by (None: not listable).
    fields: FieldTable | None = None
    # The one unique key besides the id; its last field names the resource in AlreadyExists.
    unique: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def list_fields(self) -> FieldTable:
        if self.fields is None:
            raise TypeError(f"{self.name} cannot be listed")
        return self.fields

    def index_models(self) -> list[IndexModel]:
        models = [IndexModel([(f, ASCENDING) for f in index]) for index in self.indexes]
        if self.unique:
            models.append(IndexModel([(f, ASCENDING) for f in self.unique], unique=True))
        return models

    def encode(self, record: R) -> Document:
        document: Document = escape_keys(to_document(record))
        document["_id"] = document[self.id_field]
        return document

    def decode(self, document: Mapping[str, Any]) -> R:
        return from_document(self.record, unescape_keys(dict(document)))

    def identifier(self, record: R, key_fields: tuple[str, ...] | None) -> str:
        """What AlreadyExists names for a duplicate on `key_fields` (None: on the id)."""
        if key_fields is not None and self.unique and set(key_fields) == set(self.unique):
            return str(getattr(record, self.unique[-1]))
        return str(getattr(record, self.id_field))


def escape_keys(value: Any) -> Any:
    """`value` with every mapping key made safe for MongoDB (see the module docstring)."""
    if isinstance(value, dict):
        return {_escape_key(key): escape_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape_keys(item) for item in value]
    return value


def unescape_keys(value: Any) -> Any:
    """The inverse of `escape_keys`."""
    if isinstance(value, dict):
        return {_unescape_key(key): unescape_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape_keys(item) for item in value]
    return value


def _escape_key(key: str) -> str:
    return _TO_ESCAPE.sub(_escape, key) if key else _EMPTY_KEY


def _unescape_key(key: str) -> str:
    return "" if key == _EMPTY_KEY else _TO_UNESCAPE.sub(_unescape, key)


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES[match[0]]


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPES[match[0]]


def _listable(
    name: str,
    kind: str,
    record: type[R],
    fields: FieldTable,
    *,
    unique: tuple[str, ...] = (),
    indexes: tuple[tuple[str, ...], ...],
    scoped: bool = False,
) -> Collection[R]:
    """A listable collection. The usual sort keys (names, timestamps) get a (…, id) index
    for keyset paging, unless every list is `scoped` to one parent (pipeline versions):
    then `indexes` holds the (parent, sort key, id) ones."""
    id_field = fields.id_field
    sort_indexes = (
        ()
        if scoped
        else tuple(
            (f.name, id_field)
            for f in fields.fields[1:]
            if f.kind is FieldKind.TIMESTAMP or f.name in ("name", "display_name")
        )
    )
    return Collection(
        name=name,
        kind=kind,
        record=record,
        id_field=id_field,
        fields=fields,
        unique=unique,
        indexes=(*sort_indexes, *indexes),
    )


EXPERIMENTS = _listable(
    "experiments",
    "experiment",
    ExperimentRecord,
    filters.EXPERIMENT_FIELDS,
    unique=("namespace", "display_name"),
    indexes=(("namespace", "created_at", "experiment_id"),),
)
PIPELINES = _listable(
    "pipelines",
    "pipeline",
    PipelineRecord,
    filters.PIPELINE_FIELDS,
    unique=("namespace", "name"),
    indexes=(("namespace", "created_at", "pipeline_id"),),
)
PIPELINE_VERSIONS = _listable(
    "pipeline_versions",
    "pipeline version",
    PipelineVersionRecord,
    filters.PIPELINE_VERSION_FIELDS,
    unique=("pipeline_id", "name"),
    indexes=(
        ("pipeline_id", "created_at", "pipeline_version_id"),
        ("pipeline_id", "display_name", "pipeline_version_id"),
    ),
    scoped=True,
)
RUNS = _listable(
    "runs",
    "run",
    RunRecord,
    filters.RUN_FIELDS,
    indexes=(
        ("experiment_id", "created_at", "run_id"),
        ("namespace", "created_at", "run_id"),
        ("state", "created_at", "run_id"),
        ("recurring_run_id", "state"),
        ("pipeline_version_id", "created_at", "run_id"),
    ),
)
RECURRING_RUNS = _listable(
    "recurring_runs",
    "recurring run",
    RecurringRunRecord,
    filters.RECURRING_RUN_FIELDS,
    indexes=(
        ("experiment_id", "created_at", "recurring_run_id"),
        ("namespace", "created_at", "recurring_run_id"),
        ("status", "created_at", "recurring_run_id"),
    ),
)
ARTIFACTS = _listable(
    "artifacts",
    "artifact",
    ArtifactRecord,
    filters.ARTIFACT_FIELDS,
    indexes=(("run_id", "created_at", "artifact_id"), ("task_id", "created_at", "artifact_id")),
)
# One document per task execution, never embedded in its run: a busy run is many small
# writes to many documents, not one hot document rewritten by every task.
TASKS: Collection[TaskRecord] = Collection(
    name="tasks",
    kind="task",
    record=TaskRecord,
    id_field="task_id",
    unique=("run_id", "path"),
    indexes=(("run_id", "create_time", "path"), ("fingerprint", "state", "create_time", "task_id")),
)

COLLECTIONS: tuple[Collection[Any], ...] = (
    EXPERIMENTS,
    PIPELINES,
    PIPELINE_VERSIONS,
    RUNS,
    TASKS,
    RECURRING_RUNS,
    ARTIFACTS,
)

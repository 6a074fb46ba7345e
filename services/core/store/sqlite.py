"""The embedded metadata store: one SQLite file in the data directory, through aiosqlite.

One connection, in WAL mode, serialised by a lock: SQLite allows one writer at a time
anyway, and a single connection keeps every transaction's reads consistent with its
writes. Writes take the write lock up front (`BEGIN IMMEDIATE`), so a compare-and-set or
an existence check cannot race another process sharing the file; `busy_timeout` makes
such a process wait rather than fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from services.core.errors import (
    AlreadyExists,
    ConcurrentModification,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.core.store import sqlite_schema as schema
from services.core.store.base import Store
from services.core.store.filters import check_query
from services.core.store.paging import (
    Cursor,
    decode_page_token,
    encode_page_token,
    page_size,
    query_fingerprint,
)
from services.core.store.query import ListQuery, Page
from services.core.store.records import (
    ACTIVE_STATES,
    ArtifactRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineUpdate,
    PipelineVersionRecord,
    PipelineVersionUpdate,
    RecurringRunRecord,
    RecurringRunStatus,
    RunRecord,
    RuntimeState,
    TaskRecord,
)
from services.core.store.sqlite_query import CONTAINS_FUNCTION, contains, list_sql

logger = logging.getLogger(__name__)

R = TypeVar("R")

# Primary result codes that mean "the database is unreachable right now", not "bad SQL".
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_READONLY,
    }
)
_ACTIVE = tuple(sorted(ACTIVE_STATES))


class SqliteStore(Store):
    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000) -> None:
        """`path` is the database file (its directory is created) or ":memory:"."""
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._db is not None:
            return
        try:
            if self._path != ":memory:":
                await asyncio.to_thread(_probe, Path(self._path))
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise Unavailable(f"cannot open the SQLite store {self._path!r}: {e}") from e
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.create_function(CONTAINS_FUNCTION, 2, contains, deterministic=True)
            await self._create_schema(db)
        except sqlite3.Error as e:
            await db.close()
            raise Unavailable(f"cannot open the SQLite store {self._path!r}: {e}") from e
        except BaseException:
            await db.close()
            raise
        self._db = db
        logger.info("SQLite store open at %s", self._path)

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            async with self._lock:
                await db.close()

    async def _create_schema(self, db: aiosqlite.Connection) -> None:
        await db.execute("BEGIN IMMEDIATE")
        try:
            (found,) = await _fetch_one(db, "PRAGMA user_version")
            if found not in (0, schema.SCHEMA_VERSION):
                raise Unavailable(
                    f"SQLite store {self._path!r} has schema version {found}; "
                    f"this Sluice reads version {schema.SCHEMA_VERSION}"
                )
            for table in schema.TABLES:
                for statement in table.ddl():
                    await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def _transaction(self, *, write: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """The connection inside one transaction; translates unreachable-database errors."""
        async with self._lock:
            db = self._db
            if db is None:
                raise Unavailable("the SQLite store is not started or already closed")
            try:
                await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as e:
                if e.sqlite_errorcode & 0xFF in _UNAVAILABLE_CODES:
                    raise Unavailable(f"SQLite store {self._path!r}: {e}") from e
                raise

    # --- generic operations -------------------------------------------------------------
    async def _insert(self, db: aiosqlite.Connection, table: schema.Table[R], record: R) -> None:
        try:
            await db.execute(table.insert_sql, table.row(record))
        except sqlite3.IntegrityError as e:
            raise AlreadyExists(*table.conflict(str(e), record)) from e

    async def _get(self, table: schema.Table[R], record_id: str) -> R:
        async with self._transaction() as db:
            return await _get(db, table, record_id)

    async def _delete(self, db: aiosqlite.Connection, table: schema.Table[Any], record_id: str) -> None:
        if not await _execute(db, f"DELETE FROM {table.name} WHERE {table.id_column} = ?", (record_id,)):
            raise NotFound(table.kind, record_id)

    async def _replace(self, table: schema.Table[R], record: R) -> None:
        """Overwrite a record without a version check. Raises NotFound or AlreadyExists."""
        record_id = getattr(record, table.id_column)
        async with self._transaction(write=True) as db:
            try:
                updated = await _execute(
                    db, table.update_sql(compare_version=False), [*table.update_values(record), record_id]
                )
            except sqlite3.IntegrityError as e:
                raise AlreadyExists(*table.conflict(str(e), record)) from e
            if not updated:
                raise NotFound(table.kind, record_id)

    async def _compare_and_set(self, table: schema.Table[R], record: R, *, read_version: int) -> R:
        """Store `record` (already carrying the next version) if the stored version is still
        `read_version`. Raises NotFound or ConcurrentModification."""
        record_id = getattr(record, table.id_column)
        async with self._transaction(write=True) as db:
            updated = await _execute(
                db,
                table.update_sql(compare_version=True),
                [*table.update_values(record), record_id, read_version],
            )
            if not updated:
                stored = await _fetch_one(
                    db, f"SELECT version FROM {table.name} WHERE {table.id_column} = ?", (record_id,)
                )
                if stored is None:
                    raise NotFound(table.kind, record_id)
                raise ConcurrentModification(
                    f"{table.kind} {record_id!r} was updated concurrently "
                    f"(read version {read_version}, stored version {stored[0]})"
                )
        return record

    async def _list(
        self,
        table: schema.Table[R],
        query: ListQuery,
        *,
        scope: Mapping[str, str],
        paged: bool = True,
    ) -> Page[R]:
        fields = table.list_fields
        check_query(query, fields)
        fingerprint = query_fingerprint(query, resource=fields.resource, scope=scope)
        cursor = decode_page_token(query.page_token, fingerprint=fingerprint)
        size = page_size(query) if paged else None
        sql = list_sql(table, query, scope=scope, cursor=cursor, limit=None if size is None else size + 1)
        async with self._transaction() as db:
            (total,) = await _fetch_one(db, sql.count, sql.count_params)
            rows = await db.execute_fetchall(sql.select, sql.select_params)
        items = [table.decode(doc) for (doc,) in rows]
        next_token = ""
        if size is not None and len(items) > size:
            del items[size:]
            last = items[-1]
            next_token = encode_page_token(
                Cursor(sort_value=getattr(last, query.sort_field), last_id=getattr(last, fields.id_field)),
                fingerprint=fingerprint,
            )
        return Page(items=items, total_size=total, next_page_token=next_token)

    # --- experiments ------------------------------------------------------------------
    async def create_experiment(self, experiment: ExperimentRecord) -> None:
        async with self._transaction(write=True) as db:
            await self._insert(db, schema.EXPERIMENTS, experiment)

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        return await self._get(schema.EXPERIMENTS, experiment_id)

    async def list_experiments(self, query: ListQuery, *, namespace: str = "") -> Page[ExperimentRecord]:
        return await self._list(schema.EXPERIMENTS, query, scope=_scope(namespace=namespace))

    async def update_experiment(self, experiment: ExperimentRecord) -> None:
        await self._replace(schema.EXPERIMENTS, experiment)

    async def delete_experiment(self, experiment_id: str) -> None:
        async with self._transaction(write=True) as db:
            await self._delete(db, schema.EXPERIMENTS, experiment_id)

    # --- pipelines and versions -------------------------------------------------------
    async def create_pipeline(self, pipeline: PipelineRecord) -> None:
        async with self._transaction(write=True) as db:
            await self._insert(db, schema.PIPELINES, pipeline)

    async def create_pipeline_with_version(
        self, pipeline: PipelineRecord, version: PipelineVersionRecord
    ) -> None:
        if version.pipeline_id != pipeline.pipeline_id:
            raise InvalidArgument(
                f"version {version.pipeline_version_id!r} belongs to pipeline {version.pipeline_id!r}, "
                f"not {pipeline.pipeline_id!r}",
                field="pipeline_id",
            )
        async with self._transaction(write=True) as db:
            await self._insert(db, schema.PIPELINES, pipeline)
            await self._insert(db, schema.PIPELINE_VERSIONS, version)

    async def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        return await self._get(schema.PIPELINES, pipeline_id)

    async def get_pipeline_by_name(self, name: str, *, namespace: str = "") -> PipelineRecord:
        async with self._transaction() as db:
            row = await _fetch_one(
                db, "SELECT doc FROM pipelines WHERE namespace = ? AND name = ?", (namespace, name)
            )
        if row is None:
            raise NotFound("pipeline", f"{namespace}/{name}" if namespace else name)
        return schema.PIPELINES.decode(row[0])

    async def list_pipelines(self, query: ListQuery, *, namespace: str = "") -> Page[PipelineRecord]:
        return await self._list(schema.PIPELINES, query, scope=_scope(namespace=namespace))

    async def update_pipeline(self, pipeline_id: str, update: PipelineUpdate) -> PipelineRecord:
        async with self._transaction(write=True) as db:
            stored = await _get(db, schema.PIPELINES, pipeline_id)
            updated = dataclasses.replace(stored, **update.changes())
            if updated != stored:
                await _overwrite(db, schema.PIPELINES, updated)
        return updated

    async def delete_pipeline(self, pipeline_id: str, *, cascade: bool = False) -> None:
        async with self._transaction(write=True) as db:
            await _get(db, schema.PIPELINES, pipeline_id)
            (versions,) = await _fetch_one(
                db, "SELECT COUNT(*) FROM pipeline_versions WHERE pipeline_id = ?", (pipeline_id,)
            )
            if versions and not cascade:
                raise FailedPrecondition(
                    f"pipeline {pipeline_id!r} has {versions} version(s); delete them first or cascade"
                )
            await db.execute("DELETE FROM pipeline_versions WHERE pipeline_id = ?", (pipeline_id,))
            await self._delete(db, schema.PIPELINES, pipeline_id)

    async def create_pipeline_version(self, version: PipelineVersionRecord) -> None:
        async with self._transaction(write=True) as db:
            await _get(db, schema.PIPELINES, version.pipeline_id)
            await self._insert(db, schema.PIPELINE_VERSIONS, version)

    async def get_pipeline_version(self, pipeline_version_id: str) -> PipelineVersionRecord:
        return await self._get(schema.PIPELINE_VERSIONS, pipeline_version_id)

    async def list_pipeline_versions(self, pipeline_id: str, query: ListQuery) -> Page[PipelineVersionRecord]:
        return await self._list(schema.PIPELINE_VERSIONS, query, scope={"pipeline_id": pipeline_id})

    async def latest_pipeline_version(self, pipeline_id: str) -> PipelineVersionRecord:
        async with self._transaction() as db:
            row = await _fetch_one(
                db,
                "SELECT doc FROM pipeline_versions WHERE pipeline_id = ? "
                "ORDER BY created_at DESC, pipeline_version_id DESC LIMIT 1",
                (pipeline_id,),
            )
        if row is None:
            raise NotFound("version of pipeline", pipeline_id)
        return schema.PIPELINE_VERSIONS.decode(row[0])

    async def update_pipeline_version(
        self, pipeline_version_id: str, update: PipelineVersionUpdate, *, pipeline_id: str
    ) -> PipelineVersionRecord:
        async with self._transaction(write=True) as db:
            stored = await _get(db, schema.PIPELINE_VERSIONS, pipeline_version_id)
            if stored.pipeline_id != pipeline_id:
                raise NotFound(schema.PIPELINE_VERSIONS.kind, pipeline_version_id)
            updated = dataclasses.replace(stored, **update.changes())
            if updated != stored:
                await _overwrite(db, schema.PIPELINE_VERSIONS, updated)
        return updated

    async def delete_pipeline_version(self, pipeline_version_id: str) -> None:
        async with self._transaction(write=True) as db:
            await self._delete(db, schema.PIPELINE_VERSIONS, pipeline_version_id)

    # --- runs -------------------------------------------------------------------------
    async def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord] = ()) -> None:
        async with self._transaction(write=True) as db:
            await self._insert(db, schema.RUNS, run)
            for task in tasks:
                await self._insert(db, schema.TASKS, task)

    async def get_run(self, run_id: str) -> RunRecord:
        return await self._get(schema.RUNS, run_id)

    async def list_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RunRecord]:
        scope = _scope(namespace=namespace, experiment_id=experiment_id)
        return await self._list(schema.RUNS, query, scope=scope)

    async def update_run(self, run: RunRecord) -> RunRecord:
        bumped = dataclasses.replace(run, version=run.version + 1)
        return await self._compare_and_set(schema.RUNS, bumped, read_version=run.version)

    async def delete_run(self, run_id: str) -> None:
        async with self._transaction(write=True) as db:
            await self._delete(db, schema.RUNS, run_id)
            await db.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,))

    async def list_active_run_ids(self) -> list[str]:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                f"SELECT run_id FROM runs WHERE state IN ({', '.join('?' * len(_ACTIVE))}) "
                "ORDER BY created_at, run_id",
                _ACTIVE,
            )
        return [run_id for (run_id,) in rows]

    async def count_active_runs(self, *, recurring_run_id: str) -> int:
        async with self._transaction() as db:
            (count,) = await _fetch_one(
                db,
                f"SELECT COUNT(*) FROM runs WHERE recurring_run_id = ? "
                f"AND state IN ({', '.join('?' * len(_ACTIVE))})",
                (recurring_run_id, *_ACTIVE),
            )
        return int(count)

    # --- tasks ------------------------------------------------------------------------
    async def create_tasks(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        table = schema.TASKS
        insert = f"{table.insert_sql} ON CONFLICT (run_id, path) DO NOTHING"
        stored: list[TaskRecord] = []
        async with self._transaction(write=True) as db:
            for task in tasks:
                try:
                    inserted = await _execute(db, insert, table.row(task))
                except sqlite3.IntegrityError as e:
                    raise AlreadyExists(*table.conflict(str(e), task)) from e
                if inserted:
                    stored.append(task)
                    continue
                (doc,) = await _fetch_one(
                    db, "SELECT doc FROM tasks WHERE run_id = ? AND path = ?", (task.run_id, task.path)
                )
                stored.append(table.decode(doc))
        return stored

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._get(schema.TASKS, task_id)

    async def list_tasks(self, run_id: str) -> list[TaskRecord]:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT doc FROM tasks WHERE run_id = ? ORDER BY create_time, path", (run_id,)
            )
        return [schema.TASKS.decode(doc) for (doc,) in rows]

    async def update_task(self, task: TaskRecord) -> TaskRecord:
        bumped = dataclasses.replace(task, version=task.version + 1)
        return await self._compare_and_set(schema.TASKS, bumped, read_version=task.version)

    async def find_cached_task(self, fingerprint: str) -> TaskRecord | None:
        if not fingerprint:
            return None
        async with self._transaction() as db:
            row = await _fetch_one(
                db,
                "SELECT doc FROM tasks WHERE fingerprint = ? AND state = ? AND cached_from_task_id = '' "
                "ORDER BY create_time DESC, task_id DESC LIMIT 1",
                (fingerprint, RuntimeState.SUCCEEDED.value),
            )
        return None if row is None else schema.TASKS.decode(row[0])

    # --- recurring runs ---------------------------------------------------------------
    async def create_recurring_run(self, recurring_run: RecurringRunRecord) -> None:
        async with self._transaction(write=True) as db:
            await self._insert(db, schema.RECURRING_RUNS, recurring_run)

    async def get_recurring_run(self, recurring_run_id: str) -> RecurringRunRecord:
        return await self._get(schema.RECURRING_RUNS, recurring_run_id)

    async def list_recurring_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RecurringRunRecord]:
        scope = _scope(namespace=namespace, experiment_id=experiment_id)
        return await self._list(schema.RECURRING_RUNS, query, scope=scope)

    async def update_recurring_run(self, recurring_run: RecurringRunRecord) -> RecurringRunRecord:
        bumped = dataclasses.replace(recurring_run, version=recurring_run.version + 1)
        return await self._compare_and_set(schema.RECURRING_RUNS, bumped, read_version=recurring_run.version)

    async def delete_recurring_run(self, recurring_run_id: str) -> None:
        async with self._transaction(write=True) as db:
            await self._delete(db, schema.RECURRING_RUNS, recurring_run_id)

    async def list_enabled_recurring_runs(self) -> list[RecurringRunRecord]:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT doc FROM recurring_runs WHERE status = ? ORDER BY created_at, recurring_run_id",
                (RecurringRunStatus.ENABLED.value,),
            )
        return [schema.RECURRING_RUNS.decode(doc) for (doc,) in rows]

    # --- artifacts --------------------------------------------------------------------
    async def put_artifacts(self, artifacts: Sequence[ArtifactRecord]) -> None:
        table = schema.ARTIFACTS
        upsert = (
            f"{table.insert_sql} ON CONFLICT ({table.id_column}) DO UPDATE SET "
            + ", ".join(f"{c.name} = excluded.{c.name}" for c in table.columns[1:])
            + ", doc = excluded.doc"
        )
        async with self._transaction(write=True) as db:
            await db.executemany(upsert, [table.row(artifact) for artifact in artifacts])

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        return await self._get(schema.ARTIFACTS, artifact_id)

    async def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", query: ListQuery | None = None
    ) -> Page[ArtifactRecord]:
        scope = _scope(run_id=run_id, task_id=task_id)
        if query is None:
            return await self._list(schema.ARTIFACTS, ListQuery(), scope=scope, paged=False)
        return await self._list(schema.ARTIFACTS, query, scope=scope)


def _probe(path: Path) -> None:
    """Create the directory and open the file once: when aiosqlite's first open fails, its
    worker thread outlives the call and may report to an event loop that is gone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()


def _scope(**columns: str) -> dict[str, str]:
    """Scoping arguments left empty do not restrict a list."""
    return {column: value for column, value in columns.items() if value}


async def _fetch_one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _execute(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run a write; the number of rows it changed."""
    async with db.execute(sql, params) as cursor:
        return int(cursor.rowcount)


async def _overwrite(db: aiosqlite.Connection, table: schema.Table[R], record: R) -> None:
    """Write every column of a record read in the same transaction (so it exists)."""
    record_id = getattr(record, table.id_column)
    await db.execute(table.update_sql(compare_version=False), [*table.update_values(record), record_id])


async def _get(db: aiosqlite.Connection, table: schema.Table[R], record_id: str) -> R:
    row = await _fetch_one(db, f"SELECT doc FROM {table.name} WHERE {table.id_column} = ?", (record_id,))
    if row is None:
        raise NotFound(table.kind, record_id)
    return table.decode(row[0])

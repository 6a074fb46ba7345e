"""The distributed metadata store: MongoDB through PyMongo's native async API.

One collection per record type and one document per record (`mongo_schema`); a task
execution is its own document, never part of its run's. Updates of versioned records are
compare-and-set: an `update_one` whose filter is `{"_id": id, "version": read_version}` and
whose `$set` writes every field of the record (fields a newer Sluice added are kept).
Pipelines and their versions are updated by a `$set` of the changed fields alone, in one
atomic `find_one_and_update`.

Writes that span documents (a run with its first tasks, a pipeline with its first
version, cascading deletes) run in a transaction when the deployment has them (a replica
set or a sharded cluster). On a standalone server they are ordered so that a crash between
two writes leaves nothing a reader could trip over: a run is inserted after its tasks (a
crash leaves tasks without a run, which no list shows, never a run without its tasks),
deleted before them, and a failed multi-document create undoes what it wrote.

`start` asks the server whether it has transactions (`hello`); `transactions=` overrides
that (nx-27017, the stand-in the tests use, has them but answers like a standalone server).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from pymongo import DESCENDING, AsyncMongoClient, ReplaceOne, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from services.core.errors import (
    AlreadyExists,
    ConcurrentModification,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unavailable,
)
from services.core.store import mongo_schema as schema
from services.core.store.base import Store
from services.core.store.filters import check_query
from services.core.store.mongo_query import list_find
from services.core.store.mongo_schema import Collection, Document, escape_keys
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

logger = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")
P = ParamSpec("P")

_ACTIVE = sorted(state.value for state in ACTIVE_STATES)
_DUPLICATE_KEY = 11000
# Server error codes for "who are you?" and "you may not": Unauthorized, AuthenticationFailed.
_REFUSED = frozenset({13, 18})
# MongoDB's limit on one document.
_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _translated(
    method: Callable[Concatenate[MongoStore, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[MongoStore, P], Coroutine[Any, Any, T]]:
    """Driver errors that mean "the database is unreachable" (or "cannot store that")
    become Sluice errors; everything else passes through."""

    @functools.wraps(method)
    async def translating(self: MongoStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(self, *args, **kwargs)
        except PyMongoError as error:
            translated = self._translate(error)
            if translated is error:
                raise
            raise translated from error
        except OverflowError as error:
            # BSON integers are 64-bit; JSON (and the SQLite store) has no such limit.
            raise InvalidArgument(f"a value does not fit MongoDB's 64-bit integers: {error}") from error

    return translating


class MongoStore(Store):
    """Args:
    url: a MongoDB connection string (`mongodb://…` or `mongodb+srv://…`).
    database: the database holding Sluice's collections.
    write_concern_majority: acknowledge writes only once a majority of the replica set
        has them (`w="majority"`), so an acknowledged write survives a failover.
    transactions: use multi-document transactions; None asks the server at `start`.
    server_selection_timeout: seconds an operation waits for a usable server before it
        fails with Unavailable.
    """

    def __init__(
        self,
        url: str,
        *,
        database: str = "sluice",
        write_concern_majority: bool = False,
        transactions: bool | None = None,
        server_selection_timeout: float = 10.0,
        app_name: str = "sluice",
    ) -> None:
        self._url = url
        self._database_name = database
        self._write_concern_majority = write_concern_majority
        self._transactions_option = transactions
        self._transactions = False
        self._server_selection_timeout = server_selection_timeout
        self._app_name = app_name
        self._mongo: AsyncMongoClient[Document] | None = None
        self._db: AsyncDatabase[Document] | None = None
        self._where = f"MongoDB {_redacted(url)} (database {database!r})"

    @property
    def database(self) -> str:
        return self._database_name

    @property
    def transactions(self) -> bool:
        """Whether multi-document writes run in transactions (known once started)."""
        return self._transactions

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._db is not None:
            return
        options: dict[str, Any] = {
            "serverSelectionTimeoutMS": int(self._server_selection_timeout * 1000),
            "appname": self._app_name,
        }
        if self._write_concern_majority:
            options["w"] = "majority"
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(self._url, **options)
        except ConfigurationError as error:
            raise InvalidArgument(f"bad MongoDB store URL: {error}", field="store_url") from error
        try:
            hello = await client.admin.command("hello")
            db = client.get_database(self._database_name)
            for spec in schema.COLLECTIONS:
                await db[spec.name].create_indexes(spec.index_models())
        except PyMongoError as error:
            await client.close()
            translated = self._translate(error)
            if translated is error or isinstance(translated, Unavailable):
                translated = Unavailable(f"cannot open the store at {self._where}: {error}")
            raise translated from error
        except BaseException:
            await client.close()
            raise
        if self._transactions_option is None:
            self._transactions = _has_transactions(hello)
        else:
            self._transactions = self._transactions_option
        self._mongo, self._db = client, db
        logger.info("MongoDB store open at %s (transactions: %s)", self._where, self._transactions)

    async def aclose(self) -> None:
        client, self._mongo, self._db = self._mongo, None, None
        if client is not None:
            await client.close()

    # --- plumbing ---------------------------------------------------------------------
    def _collection(self, spec: Collection[Any]) -> AsyncCollection[Document]:
        if self._db is None:
            raise Unavailable(f"the store at {self._where} is not started or already closed")
        return self._db[spec.name]

    def _client(self) -> AsyncMongoClient[Document]:
        if self._mongo is None:
            raise Unavailable(f"the store at {self._where} is not started or already closed")
        return self._mongo

    def _translate(self, error: PyMongoError) -> BaseException:
        if (
            isinstance(error, ConnectionFailure | WTimeoutError | InvalidOperation)
            or error.has_error_label("TransientTransactionError")
            or error.has_error_label("RetryableWriteError")
        ):
            return Unavailable(f"{self._where} is unavailable: {error}")
        if isinstance(error, OperationFailure) and error.code in _REFUSED:
            return PermissionDenied(f"{self._where} refused Sluice's credentials or access: {error}")
        if isinstance(error, DocumentTooLarge):
            return TooLarge(
                f"a record is larger than MongoDB's limit of {_MAX_DOCUMENT_BYTES} bytes",
                limit_bytes=_MAX_DOCUMENT_BYTES,
            )
        return error

    async def _atomically(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run `work` in a transaction when the deployment has them, else without a session
        (then `work` orders its writes so that a crash between them is harmless)."""
        if not self._transactions:
            return await work(None)
        async with self._client().start_session() as session:
            return await session.with_transaction(work)

    async def _conflict(
        self, spec: Collection[R], record: R, details: Mapping[str, Any] | None
    ) -> AlreadyExists:
        """The AlreadyExists for a duplicate-key error on inserting `record`."""
        pattern = (details or {}).get("keyPattern")
        if isinstance(pattern, Mapping) and pattern:
            key_fields: tuple[str, ...] | None = tuple(pattern)
            if key_fields == ("_id",):
                key_fields = None
        else:
            # No keyPattern (older servers, nx-27017): if the id is taken, that was it.
            record_id = getattr(record, spec.id_field)
            taken = await self._collection(spec).find_one({"_id": record_id}, {"_id": 1})
            key_fields = None if taken is not None else spec.unique
        return AlreadyExists(spec.kind, spec.identifier(record, key_fields))

    async def _insert(
        self, spec: Collection[R], record: R, *, session: AsyncClientSession | None = None
    ) -> None:
        try:
            await self._collection(spec).insert_one(spec.encode(record), session=session)
        except DuplicateKeyError as error:
            if session is not None:
                # The transaction is over; its caller looks the conflict up afterwards.
                raise
            raise await self._conflict(spec, record, error.details) from error

    async def _get(self, spec: Collection[R], record_id: str) -> R:
        document = await self._collection(spec).find_one({"_id": record_id})
        if document is None:
            raise NotFound(spec.kind, record_id)
        return spec.decode(document)

    async def _delete(
        self, spec: Collection[Any], record_id: str, *, session: AsyncClientSession | None = None
    ) -> None:
        result = await self._collection(spec).delete_one({"_id": record_id}, session=session)
        if not result.deleted_count:
            raise NotFound(spec.kind, record_id)

    async def _replace(self, spec: Collection[R], record: R) -> None:
        """Overwrite a record without a version check. Raises NotFound or AlreadyExists."""
        record_id = getattr(record, spec.id_field)
        try:
            result = await self._collection(spec).update_one(
                {"_id": record_id}, {"$set": _fields(spec, record)}
            )
        except DuplicateKeyError as error:
            raise _update_conflict(spec, record) from error
        if not result.matched_count:
            raise NotFound(spec.kind, record_id)

    async def _set_fields(
        self, spec: Collection[R], record_id: str, changes: Mapping[str, Any], *, match: Document
    ) -> R:
        """Set `changes` (record fields by name) on the one document that has `record_id`
        and `match`, in one atomic write; the record afterwards. Raises NotFound."""
        collection = self._collection(spec)
        query = {**match, "_id": record_id}
        if changes:
            document = await collection.find_one_and_update(
                query, {"$set": escape_keys(dict(changes))}, return_document=ReturnDocument.AFTER
            )
        else:
            document = await collection.find_one(query)
        if document is None:
            raise NotFound(spec.kind, record_id)
        return spec.decode(document)

    async def _compare_and_set(self, spec: Collection[R], record: R, *, read_version: int) -> R:
        """Store `record` (already carrying the next version) if the stored version is still
        `read_version`. Raises NotFound or ConcurrentModification."""
        record_id = getattr(record, spec.id_field)
        collection = self._collection(spec)
        try:
            result = await collection.update_one(
                {"_id": record_id, "version": read_version}, {"$set": _fields(spec, record)}
            )
        except DuplicateKeyError as error:
            raise _update_conflict(spec, record) from error
        if result.matched_count:
            return record
        stored = await collection.find_one({"_id": record_id}, {"version": 1})
        if stored is None:
            raise NotFound(spec.kind, record_id)
        raise ConcurrentModification(
            f"{spec.kind} {record_id!r} was updated concurrently "
            f"(read version {read_version}, stored version {stored.get('version')})"
        )

    async def _list(
        self, spec: Collection[R], query: ListQuery, *, scope: Mapping[str, str], paged: bool = True
    ) -> Page[R]:
        fields = spec.list_fields
        check_query(query, fields)
        fingerprint = query_fingerprint(query, resource=fields.resource, scope=scope)
        cursor = decode_page_token(query.page_token, fingerprint=fingerprint)
        size = page_size(query) if paged else None
        find = list_find(fields, query, scope=scope, cursor=cursor)
        collection = self._collection(spec)
        total = await collection.count_documents(find.count_filter)
        documents = await collection.find(
            find.find_filter, sort=find.sort, limit=0 if size is None else size + 1
        ).to_list()
        items = [spec.decode(document) for document in documents]
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
    @_translated
    async def create_experiment(self, experiment: ExperimentRecord) -> None:
        await self._insert(schema.EXPERIMENTS, experiment)

    @_translated
    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        return await self._get(schema.EXPERIMENTS, experiment_id)

    @_translated
    async def list_experiments(self, query: ListQuery, *, namespace: str = "") -> Page[ExperimentRecord]:
        return await self._list(schema.EXPERIMENTS, query, scope=_scope(namespace=namespace))

    @_translated
    async def update_experiment(self, experiment: ExperimentRecord) -> None:
        await self._replace(schema.EXPERIMENTS, experiment)

    @_translated
    async def delete_experiment(self, experiment_id: str) -> None:
        await self._delete(schema.EXPERIMENTS, experiment_id)

    # --- pipelines and versions -------------------------------------------------------
    @_translated
    async def create_pipeline(self, pipeline: PipelineRecord) -> None:
        await self._insert(schema.PIPELINES, pipeline)

    @_translated
    async def create_pipeline_with_version(
        self, pipeline: PipelineRecord, version: PipelineVersionRecord
    ) -> None:
        if version.pipeline_id != pipeline.pipeline_id:
            raise InvalidArgument(
                f"version {version.pipeline_version_id!r} belongs to pipeline {version.pipeline_id!r}, "
                f"not {pipeline.pipeline_id!r}",
                field="pipeline_id",
            )
        if self._transactions:
            failed: tuple[Collection[Any], Any] = (schema.PIPELINES, pipeline)

            async def both(session: AsyncClientSession | None) -> None:
                nonlocal failed
                failed = (schema.PIPELINES, pipeline)
                await self._insert(schema.PIPELINES, pipeline, session=session)
                failed = (schema.PIPELINE_VERSIONS, version)
                await self._insert(schema.PIPELINE_VERSIONS, version, session=session)

            try:
                await self._atomically(both)
            except DuplicateKeyError as error:
                raise await self._conflict(*failed, error.details) from error
            return
        await self._insert(schema.PIPELINES, pipeline)
        try:
            await self._insert(schema.PIPELINE_VERSIONS, version)
        except Exception:
            await self._collection(schema.PIPELINES).delete_one({"_id": pipeline.pipeline_id})
            raise

    @_translated
    async def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        return await self._get(schema.PIPELINES, pipeline_id)

    @_translated
    async def get_pipeline_by_name(self, name: str, *, namespace: str = "") -> PipelineRecord:
        document = await self._collection(schema.PIPELINES).find_one({"namespace": namespace, "name": name})
        if document is None:
            raise NotFound("pipeline", f"{namespace}/{name}" if namespace else name)
        return schema.PIPELINES.decode(document)

    @_translated
    async def list_pipelines(self, query: ListQuery, *, namespace: str = "") -> Page[PipelineRecord]:
        return await self._list(schema.PIPELINES, query, scope=_scope(namespace=namespace))

    @_translated
    async def update_pipeline(self, pipeline_id: str, update: PipelineUpdate) -> PipelineRecord:
        return await self._set_fields(schema.PIPELINES, pipeline_id, update.changes(), match={})

    @_translated
    async def delete_pipeline(self, pipeline_id: str, *, cascade: bool = False) -> None:
        versions = self._collection(schema.PIPELINE_VERSIONS)

        async def delete(session: AsyncClientSession | None) -> None:
            pipeline = await self._collection(schema.PIPELINES).find_one(
                {"_id": pipeline_id}, {"_id": 1}, session=session
            )
            if pipeline is None:
                raise NotFound(schema.PIPELINES.kind, pipeline_id)
            count = await versions.count_documents({"pipeline_id": pipeline_id}, session=session)
            if count and not cascade:
                raise FailedPrecondition(
                    f"pipeline {pipeline_id!r} has {count} version(s); delete them first or cascade"
                )
            # Versions first: without a transaction, a crash leaves a pipeline with fewer
            # versions, never versions of no pipeline.
            await versions.delete_many({"pipeline_id": pipeline_id}, session=session)
            await self._delete(schema.PIPELINES, pipeline_id, session=session)

        await self._atomically(delete)

    @_translated
    async def create_pipeline_version(self, version: PipelineVersionRecord) -> None:
        async def create(session: AsyncClientSession | None) -> None:
            pipeline = await self._collection(schema.PIPELINES).find_one(
                {"_id": version.pipeline_id}, {"_id": 1}, session=session
            )
            if pipeline is None:
                raise NotFound(schema.PIPELINES.kind, version.pipeline_id)
            await self._insert(schema.PIPELINE_VERSIONS, version, session=session)

        try:
            await self._atomically(create)
        except DuplicateKeyError as error:
            raise await self._conflict(schema.PIPELINE_VERSIONS, version, error.details) from error

    @_translated
    async def get_pipeline_version(self, pipeline_version_id: str) -> PipelineVersionRecord:
        return await self._get(schema.PIPELINE_VERSIONS, pipeline_version_id)

    @_translated
    async def list_pipeline_versions(self, pipeline_id: str, query: ListQuery) -> Page[PipelineVersionRecord]:
        return await self._list(schema.PIPELINE_VERSIONS, query, scope={"pipeline_id": pipeline_id})

    @_translated
    async def latest_pipeline_version(self, pipeline_id: str) -> PipelineVersionRecord:
        document = await self._collection(schema.PIPELINE_VERSIONS).find_one(
            {"pipeline_id": pipeline_id},
            sort=[("created_at", DESCENDING), ("pipeline_version_id", DESCENDING)],
        )
        if document is None:
            raise NotFound("version of pipeline", pipeline_id)
        return schema.PIPELINE_VERSIONS.decode(document)

    @_translated
    async def update_pipeline_version(
        self, pipeline_version_id: str, update: PipelineVersionUpdate, *, pipeline_id: str
    ) -> PipelineVersionRecord:
        return await self._set_fields(
            schema.PIPELINE_VERSIONS,
            pipeline_version_id,
            update.changes(),
            match={"pipeline_id": pipeline_id},
        )

    @_translated
    async def delete_pipeline_version(self, pipeline_version_id: str) -> None:
        await self._delete(schema.PIPELINE_VERSIONS, pipeline_version_id)

    # --- runs -------------------------------------------------------------------------
    @_translated
    async def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord] = ()) -> None:
        _check_batch(tasks)
        if self._transactions:
            await self._create_run_in_transaction(run, tasks)
            return
        runs, task_collection = self._collection(schema.RUNS), self._collection(schema.TASKS)
        if await runs.find_one({"_id": run.run_id}, {"_id": 1}) is not None:
            raise AlreadyExists(schema.RUNS.kind, run.run_id)
        inserted = await self._insert_run_tasks(tasks)
        try:
            await self._insert(schema.RUNS, run)
        except Exception:
            if inserted:
                await task_collection.delete_many({"_id": {"$in": inserted}})
            raise

    async def _create_run_in_transaction(self, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        documents = [schema.TASKS.encode(task) for task in tasks]

        async def create(session: AsyncClientSession | None) -> None:
            await self._insert(schema.RUNS, run, session=session)
            if documents:
                await self._collection(schema.TASKS).insert_many(documents, session=session)

        try:
            await self._atomically(create)
        except DuplicateKeyError as error:
            raise await self._conflict(schema.RUNS, run, error.details) from error
        except BulkWriteError as error:
            (index, details) = _duplicates(error)[0]
            raise await self._conflict(schema.TASKS, tasks[index], details) from error

    async def _insert_run_tasks(self, tasks: Sequence[TaskRecord]) -> list[str]:
        """Insert the first tasks of a run that is not stored yet; the ids inserted. A task
        stored already with the same id and path was left by an earlier attempt that
        crashed before it stored its run, and is taken as it is. Any other duplicate undoes
        this call's inserts and raises AlreadyExists."""
        if not tasks:
            return []
        collection = self._collection(schema.TASKS)
        try:
            await collection.insert_many([schema.TASKS.encode(task) for task in tasks], ordered=False)
            return [task.task_id for task in tasks]
        except BulkWriteError as error:
            duplicates = _duplicates(error)
        failed = {index for index, _ in duplicates}
        inserted = [task.task_id for index, task in enumerate(tasks) if index not in failed]
        stored = await self._stored_tasks([tasks[index] for index in failed])
        for index, details in duplicates:
            task = tasks[index]
            found = stored.get(("path", task.run_id, task.path))
            if found is None or found.task_id != task.task_id:
                if inserted:
                    await collection.delete_many({"_id": {"$in": inserted}})
                raise await self._conflict(schema.TASKS, task, details)
        return inserted

    @_translated
    async def get_run(self, run_id: str) -> RunRecord:
        return await self._get(schema.RUNS, run_id)

    @_translated
    async def list_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RunRecord]:
        scope = _scope(namespace=namespace, experiment_id=experiment_id)
        return await self._list(schema.RUNS, query, scope=scope)

    @_translated
    async def update_run(self, run: RunRecord) -> RunRecord:
        bumped = dataclasses.replace(run, version=run.version + 1)
        return await self._compare_and_set(schema.RUNS, bumped, read_version=run.version)

    @_translated
    async def delete_run(self, run_id: str) -> None:
        async def delete(session: AsyncClientSession | None) -> None:
            # The run first: without a transaction, a crash leaves tasks of no run (which
            # no list shows), never a run without its tasks.
            await self._delete(schema.RUNS, run_id, session=session)
            await self._collection(schema.TASKS).delete_many({"run_id": run_id}, session=session)

        await self._atomically(delete)

    @_translated
    async def list_active_run_ids(self) -> list[str]:
        documents = await (
            self._collection(schema.RUNS)
            .find({"state": {"$in": _ACTIVE}}, {"run_id": 1}, sort=[("created_at", 1), ("run_id", 1)])
            .to_list()
        )
        return [str(document["run_id"]) for document in documents]

    @_translated
    async def count_active_runs(self, *, recurring_run_id: str) -> int:
        return await self._collection(schema.RUNS).count_documents(
            {"recurring_run_id": recurring_run_id, "state": {"$in": _ACTIVE}}
        )

    # --- tasks ------------------------------------------------------------------------
    @_translated
    async def create_tasks(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        if not tasks:
            return []
        try:
            await self._collection(schema.TASKS).insert_many(
                [schema.TASKS.encode(task) for task in tasks], ordered=False
            )
            return list(tasks)
        except BulkWriteError as error:
            duplicates = _duplicates(error)
        # Not a transaction: the tasks that did not clash stay inserted even when another
        # one raises AlreadyExists; sending the same batch again changes nothing.
        result = list(tasks)
        stored = await self._stored_tasks([tasks[index] for index, _ in duplicates])
        for index, details in duplicates:
            task = tasks[index]
            found = stored.get(("path", task.run_id, task.path))
            if found is None or (found.task_id != task.task_id and ("id", task.task_id, "") in stored):
                raise await self._conflict(schema.TASKS, task, details)
            result[index] = found
        return result

    async def _stored_tasks(self, tasks: Sequence[TaskRecord]) -> dict[tuple[str, str, str], TaskRecord]:
        """The stored tasks sharing an id or a (run_id, path) with one of `tasks`, keyed by
        ("id", task_id, "") and ("path", run_id, path)."""
        clauses: list[dict[str, Any]] = [{"_id": {"$in": [task.task_id for task in tasks]}}]
        clauses += [{"run_id": task.run_id, "path": task.path} for task in tasks]
        documents = await self._collection(schema.TASKS).find({"$or": clauses}).to_list()
        stored: dict[tuple[str, str, str], TaskRecord] = {}
        for document in documents:
            task = schema.TASKS.decode(document)
            stored["id", task.task_id, ""] = task
            stored["path", task.run_id, task.path] = task
        return stored

    @_translated
    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._get(schema.TASKS, task_id)

    @_translated
    async def list_tasks(self, run_id: str) -> list[TaskRecord]:
        documents = await (
            self._collection(schema.TASKS)
            .find({"run_id": run_id}, sort=[("create_time", 1), ("path", 1)])
            .to_list()
        )
        return [schema.TASKS.decode(document) for document in documents]

    @_translated
    async def update_task(self, task: TaskRecord) -> TaskRecord:
        bumped = dataclasses.replace(task, version=task.version + 1)
        return await self._compare_and_set(schema.TASKS, bumped, read_version=task.version)

    @_translated
    async def find_cached_task(self, fingerprint: str) -> TaskRecord | None:
        if not fingerprint:
            return None
        document = await self._collection(schema.TASKS).find_one(
            {"fingerprint": fingerprint, "state": RuntimeState.SUCCEEDED.value, "cached_from_task_id": ""},
            sort=[("create_time", DESCENDING), ("task_id", DESCENDING)],
        )
        return None if document is None else schema.TASKS.decode(document)

    # --- recurring runs ---------------------------------------------------------------
    @_translated
    async def create_recurring_run(self, recurring_run: RecurringRunRecord) -> None:
        await self._insert(schema.RECURRING_RUNS, recurring_run)

    @_translated
    async def get_recurring_run(self, recurring_run_id: str) -> RecurringRunRecord:
        return await self._get(schema.RECURRING_RUNS, recurring_run_id)

    @_translated
    async def list_recurring_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RecurringRunRecord]:
        scope = _scope(namespace=namespace, experiment_id=experiment_id)
        return await self._list(schema.RECURRING_RUNS, query, scope=scope)

    @_translated
    async def update_recurring_run(self, recurring_run: RecurringRunRecord) -> RecurringRunRecord:
        bumped = dataclasses.replace(recurring_run, version=recurring_run.version + 1)
        return await self._compare_and_set(schema.RECURRING_RUNS, bumped, read_version=recurring_run.version)

    @_translated
    async def delete_recurring_run(self, recurring_run_id: str) -> None:
        await self._delete(schema.RECURRING_RUNS, recurring_run_id)

    @_translated
    async def list_enabled_recurring_runs(self) -> list[RecurringRunRecord]:
        documents = await (
            self._collection(schema.RECURRING_RUNS)
            .find(
                {"status": RecurringRunStatus.ENABLED.value},
                sort=[("created_at", 1), ("recurring_run_id", 1)],
            )
            .to_list()
        )
        return [schema.RECURRING_RUNS.decode(document) for document in documents]

    # --- artifacts --------------------------------------------------------------------
    @_translated
    async def put_artifacts(self, artifacts: Sequence[ArtifactRecord]) -> None:
        if not artifacts:
            return
        spec = schema.ARTIFACTS
        await self._collection(spec).bulk_write(
            [ReplaceOne({"_id": a.artifact_id}, spec.encode(a), upsert=True) for a in artifacts],
            ordered=False,
        )

    @_translated
    async def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        return await self._get(schema.ARTIFACTS, artifact_id)

    @_translated
    async def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", query: ListQuery | None = None
    ) -> Page[ArtifactRecord]:
        scope = _scope(run_id=run_id, task_id=task_id)
        if query is None:
            return await self._list(schema.ARTIFACTS, ListQuery(), scope=scope, paged=False)
        return await self._list(schema.ARTIFACTS, query, scope=scope)


def _has_transactions(hello: Mapping[str, Any]) -> bool:
    """Whether `hello` comes from a replica set member or a mongos (transactions need one)."""
    return "setName" in hello or hello.get("msg") == "isdbgrid"


def _redacted(url: str) -> str:
    """The URL without its user and password, for messages and logs."""
    return re.sub(r"(?<=://)[^@/]*@", "", url)


def _scope(**fields: str) -> dict[str, str]:
    """Scoping arguments left empty do not restrict a list."""
    return {name: value for name, value in fields.items() if value}


def _fields(spec: Collection[R], record: R) -> Document:
    """Every field of `record`, for a `$set` (`_id` cannot change)."""
    document = spec.encode(record)
    del document["_id"]
    return document


def _update_conflict(spec: Collection[R], record: R) -> AlreadyExists:
    """An update cannot change the id: a duplicate key is the collection's unique key."""
    return AlreadyExists(spec.kind, spec.identifier(record, spec.unique or None))


def _check_batch(tasks: Sequence[TaskRecord]) -> None:
    """AlreadyExists when two tasks of one batch share an id or a (run_id, path)."""
    ids: set[str] = set()
    paths: set[tuple[str, str]] = set()
    for task in tasks:
        if task.task_id in ids:
            raise AlreadyExists(schema.TASKS.kind, task.task_id)
        if (task.run_id, task.path) in paths:
            raise AlreadyExists(schema.TASKS.kind, task.path)
        ids.add(task.task_id)
        paths.add((task.run_id, task.path))


def _duplicates(error: BulkWriteError) -> list[tuple[int, Mapping[str, Any]]]:
    """(index in the batch, error details) of each duplicate-key failure of a bulk insert.
    Re-raises the error when anything else failed too."""
    write_errors: list[Mapping[str, Any]] = error.details.get("writeErrors", [])
    if error.details.get("writeConcernErrors") or any(e.get("code") != _DUPLICATE_KEY for e in write_errors):
        raise error
    return [(int(e["index"]), e) for e in write_errors]

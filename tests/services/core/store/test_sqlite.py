"""What only the SQLite store has: its file, its schema, its indexes, its error mapping.
Behaviour every store shares is in tests/contract/store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from services.core.errors import AlreadyExists, Unavailable
from services.core.store import sqlite_schema as schema
from services.core.store.paging import Cursor
from services.core.store.query import ListQuery, Operation, Predicate
from services.core.store.records import RuntimeState
from services.core.store.sqlite import SqliteStore
from services.core.store.sqlite_query import list_sql
from tests.contract.store import builders


async def test_file_is_created_in_wal_mode_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "sluice.db"
    run = builders.full_run()
    store = SqliteStore(path)
    await store.start()
    await store.create_run(run)
    await store.aclose()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (schema.SCHEMA_VERSION,)
        created_at, doc_created_at = raw.execute(
            "SELECT created_at, json_extract(doc, '$.created_at') FROM runs"
        ).fetchone()
    raw.close()
    assert created_at == doc_created_at == "2024-05-01T12:00:00.500000+00:00"

    again = SqliteStore(str(path))
    await again.start()
    try:
        assert await again.get_run(run.run_id) == run
    finally:
        await again.aclose()


async def test_in_memory() -> None:
    store = SqliteStore(":memory:")
    await store.start()
    experiment = builders.experiment()
    await store.create_experiment(experiment)
    assert await store.get_experiment(experiment.experiment_id) == experiment
    await store.aclose()


async def test_lifecycle_is_idempotent_and_guarded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with pytest.raises(Unavailable):
        await store.get_run("r")
    await store.start()
    await store.start()
    await store.aclose()
    await store.aclose()
    with pytest.raises(Unavailable):
        await store.get_run("r")


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(Unavailable, match="schema version"):
        await SqliteStore(path).start()


async def test_a_locked_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path, busy_timeout_ms=50)
    await store.start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable):
            await store.create_experiment(builders.experiment())
        holder.execute("ROLLBACK")
        await store.create_experiment(builders.experiment())
    finally:
        holder.close()
        await store.aclose()


async def test_an_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(Unavailable):
        await SqliteStore(tmp_path / "a-directory.db").start()
    (tmp_path / "not-a-database.db").write_bytes(b"x" * 4096)
    with pytest.raises(Unavailable):
        await SqliteStore(tmp_path / "not-a-database.db").start()


async def test_a_failed_transaction_leaves_the_connection_usable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        run = builders.run()
        with pytest.raises(AlreadyExists):
            await store.create_run(run, [builders.task(run.run_id, path="root")] * 2)
        await store.create_run(run)
        assert await store.get_run(run.run_id) == run
    finally:
        await store.aclose()


# --- every list query is served by an index -----------------------------------------------


@pytest.fixture
def database() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.create_function("sluice_contains", 2, lambda a, b: 0)
    for table in schema.TABLES:
        for statement in table.ddl():
            db.execute(statement)
    yield db
    db.close()


def plan(db: sqlite3.Connection, sql: str, params: Sequence[object]) -> str:
    return "\n".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))


LISTS = [
    (schema.RUNS, ListQuery(), {}),
    (schema.RUNS, ListQuery(sort_descending=True), {"experiment_id": "e"}),
    (schema.RUNS, ListQuery(), {"namespace": "n"}),
    (schema.RUNS, ListQuery(sort_field="display_name"), {}),
    (schema.RUNS, ListQuery(sort_field="finished_at", sort_descending=True), {}),
    (schema.RUNS, ListQuery(predicates=(Predicate("state", Operation.EQUALS, RuntimeState.RUNNING),)), {}),
    (schema.RUNS, ListQuery(predicates=(Predicate("pipeline_version_id", Operation.EQUALS, "v"),)), {}),
    (schema.EXPERIMENTS, ListQuery(), {"namespace": "n"}),
    (schema.EXPERIMENTS, ListQuery(sort_field="display_name"), {}),
    (schema.PIPELINES, ListQuery(), {"namespace": "n"}),
    (schema.PIPELINES, ListQuery(sort_field="name"), {}),
    (schema.PIPELINE_VERSIONS, ListQuery(sort_descending=True), {"pipeline_id": "p"}),
    (schema.RECURRING_RUNS, ListQuery(), {"experiment_id": "e"}),
    (schema.RECURRING_RUNS, ListQuery(), {"namespace": "n"}),
    (schema.ARTIFACTS, ListQuery(), {"run_id": "r"}),
    (schema.ARTIFACTS, ListQuery(), {"task_id": "t"}),
]


@pytest.mark.parametrize(("table", "query", "scope"), LISTS, ids=lambda v: getattr(v, "name", None))
def test_list_queries_use_an_index_for_filter_and_order(
    database: sqlite3.Connection, table: schema.Table[object], query: ListQuery, scope: dict[str, str]
) -> None:
    sql = list_sql(table, query, scope=scope, cursor=Cursor(sort_value=None, last_id="x"), limit=21)
    select_plan = plan(database, sql.select, sql.select_params)
    assert "USING" in select_plan, select_plan
    assert "TEMP B-TREE" not in select_plan, select_plan
    if scope or query.predicates:
        count_plan = plan(database, sql.count, sql.count_params)
        assert "USING" in count_plan, count_plan


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT doc FROM tasks WHERE run_id = ? ORDER BY create_time, path", ("r",)),
        (
            "SELECT doc FROM tasks WHERE fingerprint = ? AND state = ? AND cached_from_task_id = '' "
            "ORDER BY create_time DESC, task_id DESC LIMIT 1",
            ("f", "SUCCEEDED"),
        ),
        (
            "SELECT COUNT(*) FROM runs WHERE recurring_run_id = ? AND state IN (?, ?)",
            ("r", "RUNNING", "PENDING"),
        ),
        # Reconciliation after a restart: found by index, sorted in memory.
        ("SELECT run_id FROM runs WHERE state IN (?, ?) ORDER BY created_at, run_id", ("RUNNING", "PENDING")),
        (
            "SELECT doc FROM recurring_runs WHERE status = ? ORDER BY created_at, recurring_run_id",
            ("ENABLED",),
        ),
        ("SELECT doc FROM pipelines WHERE namespace = ? AND name = ?", ("", "p")),
        (
            "SELECT doc FROM pipeline_versions WHERE pipeline_id = ? "
            "ORDER BY created_at DESC, pipeline_version_id DESC LIMIT 1",
            ("p",),
        ),
    ],
)
def test_lookups_use_an_index(database: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> None:
    lookup_plan = plan(database, sql, params)
    assert "USING" in lookup_plan, lookup_plan
    if "state IN" not in sql:
        assert "TEMP B-TREE" not in lookup_plan, lookup_plan

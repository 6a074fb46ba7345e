"""What only the MongoDB store has, on nx-27017: its documents and indexes, both ways of
writing several documents (transactions, or ordered writes without them), and its errors.
The shared behaviour is the contract suite's (`tests/contract/store`)."""

from __future__ import annotations

import dataclasses
import gc
import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.core.pipeline.model import JsonValue
from services.core.store.factory import open_store
from services.core.store.mongo import MongoStore
from services.core.store.mongo_schema import escape_keys, unescape_keys
from services.core.store.query import ListQuery
from services.core.store.records import RuntimeState
from tests.contract.store import builders
from tests.fixtures.mongo import free_port

Document = dict[str, Any]


@pytest.fixture
def database() -> str:
    return f"test_{uuid.uuid4().hex}"


@pytest.fixture
async def raw(mongo_url: str, database: str) -> AsyncIterator[Any]:
    """The test's database, read directly; dropped afterwards."""
    async with AsyncMongoClient[Document](mongo_url) as client:
        yield client[database]
        await client.drop_database(database)


@pytest.fixture(params=[False, True], ids=["ordered-writes", "transactions"])
async def store(
    request: pytest.FixtureRequest, mongo_url: str, database: str, raw: Any
) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_url, database=database, transactions=request.param)
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


async def test_records_are_plain_documents_with_tasks_apart(store: MongoStore, raw: Any) -> None:
    run = builders.full_run()
    task = builders.full_task(run.run_id)
    await store.create_run(run, [task])

    document = await raw.runs.find_one({"_id": run.run_id})
    assert document["run_id"] == run.run_id
    assert document["created_at"] == "2024-05-01T12:00:00.500000+00:00"
    assert document["state"] == run.state.value
    assert "tasks" not in document
    stored_task = await raw.tasks.find_one({"_id": task.task_id})
    assert stored_task["run_id"] == run.run_id
    assert stored_task["end_time"] == "2024-05-01T12:00:05.000001+00:00"


async def test_odd_json_keys_are_stored_escaped(store: MongoStore, raw: Any) -> None:
    parameters: dict[str, JsonValue] = {"a.b": 1, "$ref": "x", "50%": {"$id": 2, "": [{"\0": None}]}}
    run = dataclasses.replace(builders.run(), parameters=parameters)
    await store.create_run(run)

    document = await raw.runs.find_one({"_id": run.run_id})
    assert document["parameters"] == {"a%2Eb": 1, "%24ref": "x", "50%25": {"%24id": 2, "%": [{"%00": None}]}}
    assert (await store.get_run(run.run_id)).parameters == run.parameters


async def test_every_uniqueness_rule_and_list_query_has_an_index(store: MongoStore, raw: Any) -> None:
    def keys(information: dict[str, Any]) -> set[tuple[tuple[str, ...], bool]]:
        return {
            (tuple(f for f, _ in index["key"]), bool(index.get("unique"))) for index in information.values()
        }

    assert (("namespace", "display_name"), True) in keys(await raw.experiments.index_information())
    assert (("namespace", "name"), True) in keys(await raw.pipelines.index_information())
    assert (("pipeline_id", "name"), True) in keys(await raw.pipeline_versions.index_information())
    tasks = keys(await raw.tasks.index_information())
    assert (("run_id", "path"), True) in tasks
    assert (("fingerprint", "state", "create_time", "task_id"), False) in tasks
    runs = keys(await raw.runs.index_information())
    for index in [
        ("experiment_id", "created_at", "run_id"),
        ("created_at", "run_id"),
        ("state", "created_at", "run_id"),
        ("recurring_run_id", "state"),
    ]:
        assert (index, False) in runs


async def test_a_batch_with_a_clash_stores_nothing(store: MongoStore) -> None:
    run = builders.run()
    first, clash = builders.task(run.run_id, path="root"), builders.task(run.run_id, path="root")

    with pytest.raises(AlreadyExists):
        await store.create_run(run, [first, clash])
    with pytest.raises(AlreadyExists):
        await store.create_run(run, [first, dataclasses.replace(clash, path="root/b", task_id=first.task_id)])

    with pytest.raises(NotFound):
        await store.get_run(run.run_id)
    assert await store.list_tasks(run.run_id) == []


async def test_a_task_clashing_with_a_stored_one_stores_nothing(store: MongoStore) -> None:
    taken = builders.task("another-run")
    await store.create_tasks([taken])
    run = builders.run()
    fresh = builders.task(run.run_id)

    with pytest.raises(AlreadyExists) as raised:
        await store.create_run(run, [fresh, dataclasses.replace(taken, run_id=run.run_id)])

    assert raised.value.identifier == taken.task_id
    with pytest.raises(NotFound):
        await store.get_run(run.run_id)
    with pytest.raises(NotFound):
        await store.get_task(fresh.task_id)
    assert await store.get_task(taken.task_id) == taken


async def test_a_run_whose_creation_crashed_after_its_tasks_can_be_created_again(store: MongoStore) -> None:
    """Without transactions the tasks go in first; a retry finds them and goes on."""
    if store.transactions:
        pytest.skip("a transaction leaves nothing behind when it fails")
    run = builders.run()
    tasks = [builders.task(run.run_id, path="root", created=0), builders.task(run.run_id, created=1)]
    await store.create_tasks(tasks[:1])  # what the crashed attempt left

    await store.create_run(run, tasks)

    assert await store.get_run(run.run_id) == run
    assert await store.list_tasks(run.run_id) == tasks


async def test_a_pipeline_with_a_taken_version_name_is_not_stored(store: MongoStore) -> None:
    existing = builders.pipeline()
    version = builders.version(existing.pipeline_id)
    await store.create_pipeline_with_version(existing, version)
    pipeline = builders.pipeline()

    with pytest.raises(AlreadyExists) as raised:
        await store.create_pipeline_with_version(
            pipeline,
            builders.version(pipeline.pipeline_id, pipeline_version_id=version.pipeline_version_id),
        )
    assert raised.value.identifier == version.pipeline_version_id
    with pytest.raises(AlreadyExists) as raised:
        await store.create_pipeline_with_version(
            dataclasses.replace(pipeline, name=existing.name), builders.version(pipeline.pipeline_id)
        )
    assert raised.value.identifier == existing.name

    with pytest.raises(NotFound):
        await store.get_pipeline(pipeline.pipeline_id)


async def test_multi_document_deletes(store: MongoStore) -> None:
    pipeline = builders.pipeline()
    await store.create_pipeline_with_version(pipeline, builders.version(pipeline.pipeline_id))
    with pytest.raises(FailedPrecondition):
        await store.delete_pipeline(pipeline.pipeline_id)
    await store.delete_pipeline(pipeline.pipeline_id, cascade=True)
    with pytest.raises(NotFound):
        await store.delete_pipeline(pipeline.pipeline_id)
    assert (await store.list_pipeline_versions(pipeline.pipeline_id, ListQuery())).items == []

    run = builders.run()
    await store.create_run(run, [builders.task(run.run_id)])
    await store.delete_run(run.run_id)
    assert await store.list_tasks(run.run_id) == []
    with pytest.raises(NotFound):
        await store.delete_run(run.run_id)


async def test_integers_beyond_64_bits_are_refused(store: MongoStore) -> None:
    run = dataclasses.replace(builders.run(), parameters={"huge": 2**70})
    with pytest.raises(InvalidArgument, match="64-bit"):
        await store.create_run(run)


async def test_transactions_are_detected(mongo_url: str, database: str, raw: Any) -> None:
    # nx-27017 answers `hello` like a standalone server, which has no transactions.
    store = MongoStore(mongo_url, database=database)
    await store.start()
    assert store.transactions is False
    await store.aclose()


async def test_majority_write_concern(mongo_url: str, database: str, raw: Any) -> None:
    store = MongoStore(mongo_url, database=database, write_concern_majority=True)
    await store.start()
    run = builders.run()
    await store.create_run(run)
    assert (await store.update_run(dataclasses.replace(run, state=RuntimeState.RUNNING))).version == 1
    await store.aclose()


async def _failed_start(url: str) -> str:
    """The message of the Unavailable that starting a store at `url` raises.

    PyMongo's async client leaks the socket of a connection attempt that closing the client
    cancels (it closes it on OSError only), and the error's traceback keeps it alive. The
    garbage is collected here, with its ResourceWarning expected, rather than in whichever
    test happens to run the next collection."""

    async def attempt() -> str:
        store = MongoStore(url, server_selection_timeout=0.3)
        with pytest.raises(Unavailable, match="cannot open") as raised:
            await store.start()
        with pytest.raises(Unavailable, match="not started"):
            await store.get_run("run-1")
        return raised.value.message

    message = await attempt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return message


async def test_an_unreachable_server_is_unavailable() -> None:
    port = free_port()
    message = await _failed_start(f"mongodb://127.0.0.1:{port}/?directConnection=true")
    assert f"127.0.0.1:{port}" in message


async def test_credentials_stay_out_of_messages() -> None:
    message = await _failed_start(f"mongodb://sluice:hunter2@127.0.0.1:{free_port()}/?directConnection=true")
    assert "hunter2" not in message


def test_the_factory_opens_mongodb_urls() -> None:
    named = open_store("mongodb://user:pw@db.example.invalid:27017/metadata?w=majority")
    unnamed = open_store("mongodb://db-0.example.invalid,db-1.example.invalid/?replicaSet=rs0")
    assert isinstance(named, MongoStore)
    assert isinstance(unnamed, MongoStore)
    assert (named.database, unnamed.database) == ("metadata", "sluice")


@pytest.mark.parametrize("key", ["", "%", "%25", "%%2E", "a.b.c", "$", "$$ref", "\0", "%00", "plain", "é.ß"])
def test_key_escaping_round_trips(key: str) -> None:
    value = {key: {key: [key, {key: key}]}}

    escaped = escape_keys(value)

    ((stored, inner),) = escaped.items()
    assert stored
    assert not {".", "$", "\0"} & set(stored)
    assert inner[stored][0] == key  # values stay as they are
    assert unescape_keys(escaped) == value

"""Every filter operation on every kind of field, against the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from services.core.store import filters
from services.core.store.base import Store
from services.core.store.query import FilterValue, ListQuery, Operation, Predicate
from services.core.store.records import RecurringRunStatus, RunRecord, RuntimeState, StorageState
from tests.contract.store import builders

EQ, NE, GT, GE, LT, LE, IN, SUB = (
    Operation.EQUALS,
    Operation.NOT_EQUALS,
    Operation.GREATER_THAN,
    Operation.GREATER_THAN_EQUALS,
    Operation.LESS_THAN,
    Operation.LESS_THAN_EQUALS,
    Operation.IN,
    Operation.IS_SUBSTRING,
)


def where(*predicates: tuple[str, Operation, FilterValue], page_size: int = 200) -> ListQuery:
    return ListQuery(page_size=page_size, predicates=tuple(Predicate(f, op, v) for f, op, v in predicates))


def names(records: Sequence[Any]) -> list[str]:
    return [record.display_name for record in records]


@pytest.fixture
async def runs(store: Store) -> list[RunRecord]:
    """Five runs, named a..e in creation order; d is unfinished."""
    records = [
        builders.run(
            display_name="alpha",
            created=0,
            state=RuntimeState.SUCCEEDED,
            finished_at=builders.at(100),
            experiment_id="exp-1",
        ),
        builders.run(
            display_name="Beta run",
            created=10,
            state=RuntimeState.FAILED,
            finished_at=builders.at(110),
            experiment_id="exp-1",
            storage_state=StorageState.ARCHIVED,
        ),
        builders.run(
            display_name="gamma",
            created=20,
            state=RuntimeState.SUCCEEDED,
            finished_at=builders.at(120),
            experiment_id="exp-2",
            recurring_run_id="rr-1",
        ),
        builders.run(display_name="delta run", created=30, state=RuntimeState.RUNNING, experiment_id="exp-2"),
        builders.run(
            display_name="epsilon",
            created=40,
            state=RuntimeState.CANCELED,
            finished_at=builders.at(140),
            experiment_id="exp-3",
            recurring_run_id="rr-1",
        ),
    ]
    for record in records:
        await store.create_run(record)
    return records


ALL = ["alpha", "Beta run", "gamma", "delta run", "epsilon"]


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (("display_name", EQ, "gamma"), ["gamma"]),
        (("display_name", NE, "gamma"), ["alpha", "Beta run", "delta run", "epsilon"]),
        # Code-point order: upper case before lower case.
        (("display_name", GT, "delta run"), ["epsilon", "gamma"]),
        (("display_name", GE, "delta run"), ["delta run", "epsilon", "gamma"]),
        (("display_name", LT, "alpha"), ["Beta run"]),
        (("display_name", LE, "alpha"), ["alpha", "Beta run"]),
        (("display_name", IN, ("alpha", "epsilon", "nope")), ["alpha", "epsilon"]),
        (("display_name", IN, ()), []),
        (("display_name", SUB, "RUN"), ["Beta run", "delta run"]),
        (("display_name", SUB, "ta r"), ["Beta run", "delta run"]),
        (("display_name", SUB, "%"), []),
        (("display_name", SUB, ""), ALL),
    ],
)
async def test_string_field(
    store: Store, runs: list[RunRecord], predicate: tuple[str, Operation, FilterValue], expected: list[str]
) -> None:
    page = await store.list_runs(where(predicate))
    assert sorted(names(page.items)) == sorted(expected)
    assert page.total_size == len(expected)


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (("state", EQ, RuntimeState.SUCCEEDED), ["alpha", "gamma"]),
        (("state", NE, RuntimeState.SUCCEEDED), ["Beta run", "delta run", "epsilon"]),
        (("state", IN, (RuntimeState.RUNNING, RuntimeState.FAILED)), ["Beta run", "delta run"]),
        (("storage_state", EQ, StorageState.ARCHIVED), ["Beta run"]),
        (("storage_state", NE, StorageState.ARCHIVED), ["alpha", "gamma", "delta run", "epsilon"]),
    ],
)
async def test_enum_field(
    store: Store, runs: list[RunRecord], predicate: tuple[str, Operation, FilterValue], expected: list[str]
) -> None:
    assert sorted(names((await store.list_runs(where(predicate))).items)) == sorted(expected)


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (("created_at", EQ, builders.at(20)), ["gamma"]),
        (("created_at", NE, builders.at(20)), ["alpha", "Beta run", "delta run", "epsilon"]),
        (("created_at", GT, builders.at(20)), ["delta run", "epsilon"]),
        (("created_at", GE, builders.at(20)), ["gamma", "delta run", "epsilon"]),
        (("created_at", LT, builders.at(20)), ["alpha", "Beta run"]),
        (("created_at", LE, builders.at(20)), ["alpha", "Beta run", "gamma"]),
        (("created_at", GT, builders.at(19.999999)), ["gamma", "delta run", "epsilon"]),
        # A missing timestamp (the running run's finished_at) only matches NOT_EQUALS.
        (("finished_at", LT, builders.at(115)), ["alpha", "Beta run"]),
        (("finished_at", LE, builders.at(1000)), ["alpha", "Beta run", "gamma", "epsilon"]),
        (("finished_at", GT, builders.at(0)), ["alpha", "Beta run", "gamma", "epsilon"]),
        (("finished_at", NE, builders.at(100)), ["Beta run", "gamma", "delta run", "epsilon"]),
        (("finished_at", EQ, builders.at(100)), ["alpha"]),
    ],
)
async def test_timestamp_field(
    store: Store, runs: list[RunRecord], predicate: tuple[str, Operation, FilterValue], expected: list[str]
) -> None:
    assert sorted(names((await store.list_runs(where(predicate))).items)) == sorted(expected)


async def test_timestamps_in_other_time_zones_compare_as_instants(
    store: Store, runs: list[RunRecord]
) -> None:
    query = filters.parse_list_query(
        filters.RUN_FIELDS,
        filter_json=json.dumps(
            {
                "predicates": [
                    {
                        "key": "created_at",
                        "operation": "LESS_THAN",
                        "timestamp_value": "2024-05-01T14:00:10+02:00",
                    }
                ]
            }
        ),
    )
    assert names((await store.list_runs(query)).items) == ["alpha"]


async def test_id_fields(store: Store, runs: list[RunRecord]) -> None:
    by_id = await store.list_runs(where(("run_id", EQ, runs[2].run_id)))
    assert names(by_id.items) == ["gamma"]
    by_experiment = await store.list_runs(where(("experiment_id", IN, ("exp-1", "exp-3"))))
    assert names(by_experiment.items) == ["alpha", "Beta run", "epsilon"]
    by_recurring = await store.list_runs(where(("recurring_run_id", EQ, "rr-1")))
    assert names(by_recurring.items) == ["gamma", "epsilon"]
    unscheduled = await store.list_runs(where(("recurring_run_id", EQ, "")))
    assert names(unscheduled.items) == ["alpha", "Beta run", "delta run"]


async def test_predicates_are_anded_and_combine_with_scope(store: Store, runs: list[RunRecord]) -> None:
    query = where(("state", EQ, RuntimeState.SUCCEEDED), ("created_at", GT, builders.at(0)))
    assert names((await store.list_runs(query)).items) == ["gamma"]
    scoped = await store.list_runs(where(("state", NE, RuntimeState.SUCCEEDED)), experiment_id="exp-2")
    assert (names(scoped.items), scoped.total_size) == (["delta run"], 1)
    disjoint = await store.list_runs(where(("experiment_id", EQ, "exp-1")), experiment_id="exp-2")
    assert (disjoint.items, disjoint.total_size) == ([], 0)


async def test_total_size_counts_the_filtered_set_across_pages(store: Store, runs: list[RunRecord]) -> None:
    first = await store.list_runs(where(("display_name", SUB, "a"), page_size=2))
    assert (len(first.items), first.total_size) == (2, 4)
    filtered = await store.list_runs(where(("state", NE, RuntimeState.RUNNING), page_size=1))
    assert (names(filtered.items), filtered.total_size) == (["alpha"], 4)


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (("max_concurrency", EQ, 2), ["two"]),
        (("max_concurrency", NE, 2), ["one", "five", "ten"]),
        (("max_concurrency", GT, 2), ["five", "ten"]),
        (("max_concurrency", GE, 2), ["two", "five", "ten"]),
        (("max_concurrency", LT, 5), ["one", "two"]),
        (("max_concurrency", LE, 5), ["one", "two", "five"]),
        (("max_concurrency", GT, 4.5), ["five", "ten"]),
        (("max_concurrency", IN, (1, 10, 7)), ["one", "ten"]),
        (("no_catchup", EQ, True), ["two", "ten"]),
        (("no_catchup", NE, True), ["one", "five"]),
        (("status", EQ, RecurringRunStatus.DISABLED), ["five"]),
    ],
)
async def test_int_and_bool_fields(
    store: Store, predicate: tuple[str, Operation, FilterValue], expected: list[str]
) -> None:
    for name, concurrency in (("one", 1), ("two", 2), ("five", 5), ("ten", 10)):
        await store.create_recurring_run(
            builders.recurring_run(
                display_name=name,
                max_concurrency=concurrency,
                no_catchup=concurrency % 2 == 0,
                status=RecurringRunStatus.DISABLED if concurrency == 5 else RecurringRunStatus.ENABLED,
            )
        )
    page = await store.list_recurring_runs(where(predicate))
    assert sorted(names(page.items)) == sorted(expected)
    assert page.total_size == len(expected)


async def test_other_resources_filter_their_own_fields(store: Store) -> None:
    await store.create_experiment(
        builders.experiment(display_name="train", storage_state=StorageState.ARCHIVED)
    )
    await store.create_experiment(builders.experiment(display_name="serve"))
    archived = await store.list_experiments(where(("storage_state", EQ, StorageState.ARCHIVED)))
    assert names(archived.items) == ["train"]

    pipeline = builders.pipeline(name="xgboost", display_name="XGBoost trainer")
    await store.create_pipeline(pipeline)
    await store.create_pipeline(builders.pipeline(name="lightgbm"))
    assert [p.name for p in (await store.list_pipelines(where(("display_name", SUB, "boost")))).items] == [
        "xgboost"
    ]

    await store.create_pipeline_version(builders.version(pipeline.pipeline_id, name="v1", created=1))
    await store.create_pipeline_version(builders.version(pipeline.pipeline_id, name="v2", created=2))
    newer = await store.list_pipeline_versions(
        pipeline.pipeline_id, where(("created_at", GT, builders.at(1)))
    )
    assert [v.name for v in newer.items] == ["v2"]

    await store.put_artifacts(
        [builders.artifact(name="big", size_bytes=10_000), builders.artifact(name="small", size_bytes=10)]
    )
    big = await store.list_artifacts(query=where(("size_bytes", GE, 1000)))
    assert [a.name for a in big.items] == ["big"]


async def test_kfp_filter_json_end_to_end(store: Store, runs: list[RunRecord]) -> None:
    """What `kfp.Client` sends: camelCase value keys and operation numbers."""
    kfp_filter = json.dumps(
        {
            "predicates": [
                {"key": "state", "operation": 8, "stringValues": {"values": ["SUCCEEDED", "CANCELED"]}},
                {"key": "name", "operation": 9, "stringValue": "a"},
                {"key": "createdAt", "operation": 5, "timestampValue": "2024-05-01T12:00:20Z"},
            ]
        }
    )
    query = filters.parse_list_query(filters.RUN_FIELDS, sort_by="created_at desc", filter_json=kfp_filter)
    assert names((await store.list_runs(query)).items) == ["gamma"]


async def test_substring_is_matched_literally(store: Store) -> None:
    """IS_SUBSTRING is no pattern language: regex and LIKE characters match themselves."""
    tricky = ["a.b (c) [d]", "x*y+z? ^start$", "back\\slash | {2}", "100% _under_", "plain"]
    for name in tricky:
        await store.create_run(builders.run(display_name=name))

    for needle, expected in [
        (".", ["a.b (c) [d]"]),
        ("a.b (C) [D]", ["a.b (c) [d]"]),
        ("*y+", ["x*y+z? ^start$"]),
        ("^START$", ["x*y+z? ^start$"]),
        ("\\", ["back\\slash | {2}"]),
        ("| {2}", ["back\\slash | {2}"]),
        ("% _", ["100% _under_"]),
        ("_", ["100% _under_"]),
        ("a.c", []),
        (".*", []),
    ]:
        page = await store.list_runs(where(("display_name", SUB, needle)))
        assert sorted(names(page.items)) == expected, needle

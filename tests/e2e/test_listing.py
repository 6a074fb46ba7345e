"""KFP list semantics over HTTP on a real `sluice up`: page sizes, page tokens that hold
while runs arrive, sorting, every filter operation, scoping, total_size; and speed with
thousands of runs (indexed queries, no per-run reads).

Runs are written straight into the server's store (they never execute), in a namespace
of their own so that the shared server's other runs do not show; they are removed after
the module.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.core.store.paging import Cursor
from services.core.store.query import ListQuery, Operation, Predicate
from services.core.store.records import RunRecord, RuntimeState
from services.core.store.sqlite import SqliteStore
from services.core.store.sqlite_query import list_sql
from services.core.store.sqlite_schema import RUNS
from tests.fixtures.sluice_server import RunningSluice

API = "/apis/v2beta1"
BULK = 2000
BASE = datetime(2030, 1, 1, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "listed"},
    "schemaVersion": "2.1.0",
    "root": {"dag": {"tasks": {}}},
}
# Number operations of KFP's filter.proto, as kfp.Client sends them.
NUMBERS = {
    "EQUALS": 1,
    "NOT_EQUALS": 2,
    "GREATER_THAN": 3,
    "GREATER_THAN_EQUALS": 5,
    "LESS_THAN": 6,
    "LESS_THAN_EQUALS": 7,
    "IN": 8,
    "IS_SUBSTRING": 9,
}


@dataclass
class Scope:
    """An experiment in a namespace of its own, and the runs written into it."""

    namespace: str
    experiment_id: str
    runs: list[RunRecord]


def _store(server: RunningSluice) -> SqliteStore:
    return server.standalone.store


def _experiment(http: httpx.Client, namespace: str) -> str:
    response = http.post(
        f"{API}/experiments", json={"display_name": uuid.uuid4().hex, "namespace": namespace}
    )
    assert response.status_code == 200, response.text
    experiment_id: str = response.json()["experiment_id"]
    return experiment_id


def _run(scope_namespace: str, experiment_id: str, index: int, *, created_at: datetime) -> RunRecord:
    state = (RuntimeState.SUCCEEDED, RuntimeState.FAILED, RuntimeState.CANCELED)[index % 3]
    # Every third run was canceled before it started: no finished_at.
    finished = None if state is RuntimeState.CANCELED else created_at + timedelta(seconds=30 - index % 7)
    return RunRecord(
        run_id=str(uuid.uuid4()),
        experiment_id=experiment_id,
        display_name=f"run-{index:04d}",
        description="even" if index % 2 == 0 else "odd",
        created_at=created_at,
        pipeline_spec=SPEC,
        namespace=scope_namespace,
        state=state,
        scheduled_at=created_at,
        finished_at=finished,
    )


def _insert(server: RunningSluice, runs: list[RunRecord]) -> None:
    store = _store(server)

    async def insert() -> None:
        for run in runs:
            await store.create_run(run)

    server.call(insert)


def _delete(server: RunningSluice, run_ids: list[str]) -> None:
    store = _store(server)

    async def delete() -> None:
        for run_id in run_ids:
            await store.delete_run(run_id)

    server.call(delete)


@pytest.fixture(scope="module")
def http(sluice_server: RunningSluice) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sluice_server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def written(sluice_server: RunningSluice) -> Iterator[list[str]]:
    """Ids of the runs this module wrote; deleted at the end."""
    run_ids: list[str] = []
    yield run_ids
    _delete(sluice_server, run_ids)


def _scope(
    server: RunningSluice, http: httpx.Client, written: list[str], count: int, *, step: float = 1.0
) -> Scope:
    namespace = f"listing-{uuid.uuid4().hex[:8]}"
    experiment_id = _experiment(http, namespace)
    runs = [
        _run(namespace, experiment_id, i, created_at=BASE + timedelta(seconds=i * step)) for i in range(count)
    ]
    _insert(server, runs)
    written.extend(run.run_id for run in runs)
    return Scope(namespace=namespace, experiment_id=experiment_id, runs=runs)


@pytest.fixture(scope="module")
def small(sluice_server: RunningSluice, http: httpx.Client, written: list[str]) -> Scope:
    return _scope(sluice_server, http, written, 30)


@pytest.fixture(scope="module")
def bulk(sluice_server: RunningSluice, http: httpx.Client, written: list[str]) -> Scope:
    started = time.perf_counter()
    scope = _scope(sluice_server, http, written, BULK, step=0.25)
    print(f"\nwrote {BULK} runs through the store in {time.perf_counter() - started:.2f}s")
    return scope


def _page(http: httpx.Client, path: str = "/runs", **params: Any) -> dict[str, Any]:
    response = http.get(f"{API}{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(http: httpx.Client, scope: Scope, **params: Any) -> list[str]:
    params.setdefault("page_size", 200)
    return [run["run_id"] for run in _page(http, namespace=scope.namespace, **params).get("runs", [])]


def _all_pages(
    http: httpx.Client, scope: Scope, *, between: Callable[[], None] | None = None, **params: Any
) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        page = _page(http, namespace=scope.namespace, page_token=token, **params)
        seen += [run["run_id"] for run in page.get("runs", [])]
        token = page.get("next_page_token", "")
        if not token:
            return seen
        if between is not None:
            between()


def _filter(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


# --- paging ------------------------------------------------------------------------------------


def test_page_size_defaults_to_20_and_stops_at_200(http: httpx.Client, bulk: Scope) -> None:
    default = _page(http, namespace=bulk.namespace)
    assert len(default["runs"]) == 20
    assert default["total_size"] == BULK
    assert default["next_page_token"]
    assert len(_page(http, namespace=bulk.namespace, page_size=0)["runs"]) == 20
    assert len(_page(http, namespace=bulk.namespace, page_size=5)["runs"]) == 5
    assert len(_page(http, namespace=bulk.namespace, page_size=1000)["runs"]) == 200
    assert len(_page(http, namespace=bulk.namespace, page_size=2**40)["runs"]) == 200
    negative = http.get(f"{API}/runs", params={"page_size": -1})
    assert negative.status_code == 400
    assert negative.json()["code"] == 3


def test_pages_cover_every_run_once(http: httpx.Client, bulk: Scope) -> None:
    expected = [run.run_id for run in sorted(bulk.runs, key=lambda r: (r.created_at, r.run_id))]
    assert _all_pages(http, bulk, page_size=200) == expected


@pytest.mark.parametrize("descending", [False, True])
def test_page_tokens_hold_while_runs_arrive(
    sluice_server: RunningSluice, http: httpx.Client, written: list[str], descending: bool
) -> None:
    # Ten runs share each creation time: the run id breaks the ties.
    scope = _scope(sluice_server, http, written, 0)
    original = [
        _run(scope.namespace, scope.experiment_id, i, created_at=BASE + timedelta(seconds=i // 10))
        for i in range(40)
    ]
    _insert(sluice_server, original)
    written.extend(run.run_id for run in original)
    arrived: list[RunRecord] = []

    def more_arrive() -> None:
        # New runs land before, among and after the ones already listed.
        batch = [
            _run(
                scope.namespace,
                scope.experiment_id,
                100 + len(arrived) + i,
                created_at=BASE + timedelta(seconds=s),
            )
            for i, s in enumerate((-1, 2, 3, 9))
        ]
        _insert(sluice_server, batch)
        written.extend(run.run_id for run in batch)
        arrived.extend(batch)

    sort_by = "created_at desc" if descending else "created_at"
    seen = _all_pages(http, scope, between=more_arrive, page_size=7, sort_by=sort_by)

    assert len(seen) == len(set(seen)), "a run was listed twice"
    assert {run.run_id for run in original} <= set(seen), "a run was skipped"
    # What arrived after the cursor passed its place is on a later page; nothing else is.
    key = {run.run_id: (run.created_at, run.run_id) for run in [*original, *arrived]}
    assert [key[i] for i in seen] == sorted((key[i] for i in seen), reverse=descending)


def test_a_page_token_is_bound_to_its_query(http: httpx.Client, small: Scope) -> None:
    token = _page(http, namespace=small.namespace, page_size=5)["next_page_token"]
    for params in (
        {"sort_by": "name"},
        {"namespace": "elsewhere"},
        {"filter": _filter({"key": "name", "operation": 2, "string_value": "x"})},
    ):
        response = http.get(
            f"{API}/runs", params={"namespace": small.namespace, "page_token": token, **params}
        )
        assert response.status_code == 400, params
    assert http.get(f"{API}/runs", params={"page_token": "not-a-token"}).status_code == 400


# --- sorting -----------------------------------------------------------------------------------


def _sort_key(field: str) -> Callable[[RunRecord], Any]:
    def key(run: RunRecord) -> Any:
        value = getattr(run, field)
        # A missing time sorts first ascending (and last descending).
        return (value is not None, value or "")

    return key


@pytest.mark.parametrize(
    ("sort_by", "field"),
    [
        ("name", "display_name"),
        ("display_name", "display_name"),
        ("displayName", "display_name"),
        ("created_at", "created_at"),
        ("finished_at", "finished_at"),
        ("scheduled_at", "scheduled_at"),
        ("id", "run_id"),
        ("run_id", "run_id"),
        ("description", "description"),
        ("state", "state"),
    ],
)
@pytest.mark.parametrize("direction", ["", " desc", " asc"])
def test_sort_by_documented_keys(
    http: httpx.Client, small: Scope, sort_by: str, field: str, direction: str
) -> None:
    descending = direction == " desc"
    expected = sorted(small.runs, key=lambda r: (_sort_key(field)(r), r.run_id), reverse=descending)
    assert _ids(http, small, sort_by=sort_by + direction) == [run.run_id for run in expected]


def test_unknown_sort_keys_are_400(http: httpx.Client) -> None:
    for sort_by in ("bogus", "name sideways", "name desc extra"):
        response = http.get(f"{API}/runs", params={"sort_by": sort_by})
        assert response.status_code == 400, sort_by
        assert response.json()["code"] == 3


# --- filtering ---------------------------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _filter_cases(scope: Scope) -> list[tuple[dict[str, Any], Callable[[RunRecord], bool]]]:
    pivot = scope.runs[10]
    return [
        (
            {"key": "display_name", "operation": "EQUALS", "string_value": "run-0003"},
            lambda r: r.display_name == "run-0003",
        ),
        (
            {"key": "name", "operation": "NOT_EQUALS", "string_value": "run-0003"},
            lambda r: r.display_name != "run-0003",
        ),
        (
            {"key": "display_name", "operation": "GREATER_THAN", "string_value": "run-0020"},
            lambda r: r.display_name > "run-0020",
        ),
        (
            {"key": "display_name", "operation": "GREATER_THAN_EQUALS", "string_value": "run-0020"},
            lambda r: r.display_name >= "run-0020",
        ),
        (
            {"key": "display_name", "operation": "LESS_THAN", "string_value": "run-0005"},
            lambda r: r.display_name < "run-0005",
        ),
        (
            {"key": "display_name", "operation": "LESS_THAN_EQUALS", "string_value": "run-0005"},
            lambda r: r.display_name <= "run-0005",
        ),
        (
            {
                "key": "display_name",
                "operation": "IN",
                "string_values": {"values": ["run-0001", "run-0029", "nope"]},
            },
            lambda r: r.display_name in ("run-0001", "run-0029"),
        ),
        (
            {"key": "display_name", "operation": "IS_SUBSTRING", "string_value": "UN-001"},
            lambda r: "run-001" in r.display_name,
        ),
        (
            {"key": "state", "operation": "EQUALS", "string_value": "FAILED"},
            lambda r: r.state is RuntimeState.FAILED,
        ),
        (
            {"key": "state", "operation": "NOT_EQUALS", "string_value": "failed"},
            lambda r: r.state is not RuntimeState.FAILED,
        ),
        (
            {"key": "state", "operation": "IN", "string_values": {"values": ["SUCCEEDED", "CANCELED"]}},
            lambda r: r.state in (RuntimeState.SUCCEEDED, RuntimeState.CANCELED),
        ),
        (
            {"key": "created_at", "operation": "EQUALS", "timestamp_value": _time(pivot.created_at)},
            lambda r: r.created_at == pivot.created_at,
        ),
        (
            {"key": "created_at", "operation": "GREATER_THAN", "timestamp_value": _time(pivot.created_at)},
            lambda r: r.created_at > pivot.created_at,
        ),
        (
            {
                "key": "created_at",
                "operation": "GREATER_THAN_EQUALS",
                "timestamp_value": _time(pivot.created_at),
            },
            lambda r: r.created_at >= pivot.created_at,
        ),
        (
            {"key": "created_at", "operation": "LESS_THAN", "timestamp_value": _time(pivot.created_at)},
            lambda r: r.created_at < pivot.created_at,
        ),
        (
            {
                "key": "created_at",
                "operation": "LESS_THAN_EQUALS",
                "long_value": str(int(pivot.created_at.timestamp())),
            },
            lambda r: r.created_at <= pivot.created_at,
        ),
        # A missing finished_at never compares less (nor more) than a time.
        (
            {
                "key": "finished_at",
                "operation": "LESS_THAN",
                "timestamp_value": _time(BASE + timedelta(days=1)),
            },
            lambda r: r.finished_at is not None,
        ),
        (
            {"key": "description", "operation": "EQUALS", "string_value": "odd"},
            lambda r: r.description == "odd",
        ),
        (
            {"key": "run_id", "operation": "EQUALS", "string_value": pivot.run_id},
            lambda r: r.run_id == pivot.run_id,
        ),
    ]


def _camel(predicate: dict[str, Any]) -> dict[str, Any]:
    names = {
        "string_value": "stringValue",
        "string_values": "stringValues",
        "timestamp_value": "timestampValue",
        "long_value": "longValue",
    }
    return {names.get(key, key): value for key, value in predicate.items()}


@pytest.mark.parametrize("spelling", ["names", "numbers", "camelCase"])
def test_every_filter_operation(http: httpx.Client, small: Scope, spelling: str) -> None:
    for predicate, wanted in _filter_cases(small):
        if spelling == "numbers":
            predicate = {**predicate, "operation": NUMBERS[predicate["operation"]]}
        elif spelling == "camelCase":
            predicate = _camel(predicate)
        expected = [run.run_id for run in small.runs if wanted(run)]
        page = _page(http, namespace=small.namespace, page_size=200, filter=_filter(predicate))
        assert [run["run_id"] for run in page.get("runs", [])] == expected, predicate
        assert page.get("total_size", 0) == len(expected), predicate


def test_predicates_are_anded_and_total_size_counts_the_filtered_set(
    http: httpx.Client, small: Scope
) -> None:
    both = _filter(
        {"key": "state", "operation": 1, "stringValue": "SUCCEEDED"},
        {"key": "description", "operation": 1, "stringValue": "even"},
    )
    expected = [r.run_id for r in small.runs if r.state is RuntimeState.SUCCEEDED and r.description == "even"]
    first = _page(http, namespace=small.namespace, filter=both, page_size=2)
    assert first["total_size"] == len(expected)
    assert _all_pages(http, small, filter=both, page_size=2) == expected


def test_bad_filters_are_400(http: httpx.Client) -> None:
    for bad in (
        "{not json",
        _filter({"key": "bogus", "operation": 1, "string_value": "x"}),
        _filter({"key": "name", "operation": 42, "string_value": "x"}),
        _filter({"key": "state", "operation": "EQUALS", "string_value": "HAPPY"}),
        _filter({"key": "created_at", "operation": "IS_SUBSTRING", "string_value": "2030"}),
        _filter({"key": "name", "operation": "IN", "string_value": "x"}),
    ):
        response = http.get(f"{API}/runs", params={"filter": bad})
        assert response.status_code == 400, bad
        assert set(response.json()) == {"error", "code", "message", "details"}


def test_other_lists_filter_and_sort_too(http: httpx.Client, small: Scope) -> None:
    names = [f"{small.namespace}-{letter}" for letter in "abc"]
    for name in names:
        assert (
            http.post(
                f"{API}/experiments", json={"display_name": name, "namespace": small.namespace}
            ).status_code
            == 200
        )
    page = _page(
        http,
        "/experiments",
        namespace=small.namespace,
        sort_by="display_name desc",
        filter=_filter({"key": "display_name", "operation": 9, "stringValue": f"{small.namespace}-"}),
    )
    assert [e["display_name"] for e in page["experiments"]] == names[::-1]
    assert page["total_size"] == 3


# --- scoping -----------------------------------------------------------------------------------


def test_namespace_and_experiment_scope_the_list(
    sluice_server: RunningSluice, http: httpx.Client, written: list[str], small: Scope
) -> None:
    other_experiment = _experiment(http, small.namespace)
    others = [
        _run(small.namespace, other_experiment, i, created_at=BASE + timedelta(minutes=5, seconds=i))
        for i in range(3)
    ]
    _insert(sluice_server, others)
    written.extend(run.run_id for run in others)

    by_experiment = _page(http, experiment_id=other_experiment)
    assert [run["run_id"] for run in by_experiment["runs"]] == [run.run_id for run in others]
    assert by_experiment["total_size"] == 3
    by_namespace = _page(http, namespace=small.namespace, page_size=200)
    assert by_namespace["total_size"] == len(small.runs) + 3
    assert _page(http, namespace=f"{small.namespace}-nobody") == {}
    both = _page(http, namespace=small.namespace, experiment_id=small.experiment_id, page_size=200)
    assert both["total_size"] == len(small.runs)


# --- speed -------------------------------------------------------------------------------------


def test_lists_stay_fast_with_thousands_of_runs(
    sluice_server: RunningSluice, http: httpx.Client, bulk: Scope
) -> None:
    store = _store(sluice_server)
    calls: dict[str, int] = {}

    def counted(name: str) -> None:
        original = getattr(store, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return await original(*args, **kwargs)

        setattr(store, name, wrapper)

    watched = ("list_runs", "list_tasks", "get_run", "get_task", "get_experiment")
    for name in watched:
        counted(name)
    try:
        timings: dict[str, float] = {}

        def timed(label: str, **params: Any) -> dict[str, Any]:
            started = time.perf_counter()
            page = _page(http, namespace=bulk.namespace, **params)
            timings[label] = (time.perf_counter() - started) * 1000
            return page

        first = timed("first page (20)")
        timed("page of 200", page_size=200)
        token = first["next_page_token"]
        for _ in range(50):
            token = _page(http, namespace=bulk.namespace, page_token=token)["next_page_token"]
        timed("page 52 by token", page_token=token)
        timed("sorted by name desc", sort_by="name desc")
        timed("filtered by state", filter=_filter({"key": "state", "operation": 1, "stringValue": "FAILED"}))
        timed("experiment scope", experiment_id=bulk.experiment_id)
        calls.clear()
        timed("page of 200 again", page_size=200)
        # One list query per page, and no per-run reads: ListRuns loads no tasks.
        assert calls == {"list_runs": 1}
    finally:
        for name in watched:
            delattr(store, name)
    print(f"\nlisting {BULK} runs over HTTP (ms): " + ", ".join(f"{k}: {v:.1f}" for k, v in timings.items()))


def test_list_queries_use_indexes(sluice_server: RunningSluice, bulk: Scope) -> None:
    database = sluice_server.data_dir / "sluice.db"
    cursor = Cursor(sort_value=BASE, last_id="x")
    queries = {
        "namespace, created_at": (ListQuery(), {"namespace": bulk.namespace}),
        "experiment, created_at desc": (
            ListQuery(sort_descending=True),
            {"experiment_id": bulk.experiment_id},
        ),
        "state filter": (
            ListQuery(predicates=(Predicate("state", Operation.EQUALS, RuntimeState.FAILED),)),
            {"namespace": bulk.namespace},
        ),
        "name sort": (ListQuery(sort_field="display_name"), {}),
    }
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        for label, (query, scope) in queries.items():
            sql = list_sql(RUNS, query, scope=scope, cursor=cursor, limit=21)
            for statement, params in ((sql.select, sql.select_params), (sql.count, sql.count_params)):
                plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params))
                assert "INDEX" in plan, f"{label} reads the table without an index: {plan}"
                assert "USE TEMP B-TREE" not in plan, f"{label} sorts without an index: {plan}"

"""Keyset paging: every sort field of every listable resource, both directions, and pages
that stay correct while items are inserted or deleted between requests."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import pytest

from services.core.errors import InvalidArgument, NotFound
from services.core.store import filters
from services.core.store.base import Store
from services.core.store.filters import FieldKind, FieldSpec, FieldTable
from services.core.store.query import MAX_PAGE_SIZE, ListQuery, Operation, Page, Predicate
from services.core.store.records import RuntimeState
from tests.contract.store import builders

PIPELINE_ID = "pl-paging"


@dataclasses.dataclass(frozen=True)
class Resource:
    fields: FieldTable
    make: Callable[[], Any]
    create: Callable[[Store, Any], Awaitable[None]]
    list: Callable[[Store, ListQuery], Awaitable[Page[Any]]]
    # Fields whose values must differ between records (unique constraints).
    unique: frozenset[str] = frozenset()
    # Fields every record shares (the list's scope).
    fixed: frozenset[str] = frozenset()


async def _create_version(store: Store, version: Any) -> None:
    try:
        await store.get_pipeline(PIPELINE_ID)
    except NotFound:
        await store.create_pipeline(builders.pipeline(pipeline_id=PIPELINE_ID))
    await store.create_pipeline_version(version)


async def _put_artifact(store: Store, artifact: Any) -> None:
    await store.put_artifacts([artifact])


RESOURCES = {
    "experiments": Resource(
        fields=filters.EXPERIMENT_FIELDS,
        make=builders.experiment,
        create=lambda store, record: store.create_experiment(record),
        list=lambda store, query: store.list_experiments(query),
        unique=frozenset({"display_name"}),
    ),
    "pipelines": Resource(
        fields=filters.PIPELINE_FIELDS,
        make=builders.pipeline,
        create=lambda store, record: store.create_pipeline(record),
        list=lambda store, query: store.list_pipelines(query),
        unique=frozenset({"name"}),
    ),
    "pipeline_versions": Resource(
        fields=filters.PIPELINE_VERSION_FIELDS,
        make=lambda: builders.version(PIPELINE_ID),
        create=_create_version,
        list=lambda store, query: store.list_pipeline_versions(PIPELINE_ID, query),
        unique=frozenset({"name"}),
        fixed=frozenset({"pipeline_id"}),
    ),
    "runs": Resource(
        fields=filters.RUN_FIELDS,
        make=builders.run,
        create=lambda store, record: store.create_run(record),
        list=lambda store, query: store.list_runs(query),
    ),
    "recurring_runs": Resource(
        fields=filters.RECURRING_RUN_FIELDS,
        make=builders.recurring_run,
        create=lambda store, record: store.create_recurring_run(record),
        list=lambda store, query: store.list_recurring_runs(query),
    ),
    "artifacts": Resource(
        fields=filters.ARTIFACT_FIELDS,
        make=builders.artifact,
        create=_put_artifact,
        list=lambda store, query: store.list_artifacts(query=query),
    ),
}

SORTS = [
    pytest.param(name, spec.name, descending, id=f"{name}-{spec.name}-{'desc' if descending else 'asc'}")
    for name, resource in RESOURCES.items()
    for spec in resource.fields.fields
    for descending in (False, True)
]

COUNT = 7


def _value(spec: FieldSpec, record: Any, rank: int) -> Any:
    """A value for one field of record number `rank`; ranks collide (ties) unless unique."""
    default = next(f.default for f in dataclasses.fields(record) if f.name == spec.name)
    match spec.kind:
        case FieldKind.STRING:
            return f"{spec.name}-{rank}"
        case FieldKind.INT:
            return rank
        case FieldKind.BOOL:
            return rank % 2 == 0
        case FieldKind.TIMESTAMP:
            return None if rank == 0 and default is None else builders.at(rank)
        case FieldKind.ENUM:
            assert spec.enum is not None
            members: list[StrEnum] = list(spec.enum)
            return members[rank % len(members)]


def _varied(resource: Resource, index: int) -> Any:
    record = resource.make()
    changes = {
        spec.name: _value(
            spec, record, (index * 3) % COUNT if spec.name in resource.unique else index * 3 % 4
        )
        for spec in resource.fields.fields[1:]
        if spec.name not in resource.fixed
    }
    return dataclasses.replace(record, **changes)


def _order_key(value: Any) -> tuple[int, Any]:
    """None first, then values in their natural order (enums by name, as stored)."""
    if value is None:
        return (0, 0)
    if isinstance(value, datetime | str | bool | int):
        return (1, value)
    raise AssertionError(f"unexpected sort value {value!r}")


async def _rest(store: Store, query: ListQuery, token: str) -> list[Any]:
    """Every run on the pages from `token` on."""
    items: list[Any] = []
    while token:
        page = await store.list_runs(dataclasses.replace(query, page_token=token))
        items += page.items
        token = page.next_page_token
    return items


@pytest.mark.parametrize(("resource_name", "field", "descending"), SORTS)
async def test_pages_cover_every_item_once_in_sort_order(
    store: Store, resource_name: str, field: str, descending: bool
) -> None:
    resource = RESOURCES[resource_name]
    records = [_varied(resource, i) for i in range(COUNT)]
    for record in records:
        await resource.create(store, record)
    id_field = resource.fields.id_field
    expected = sorted(
        records,
        key=lambda r: (_order_key(getattr(r, field)), getattr(r, id_field)),
        reverse=descending,
    )

    query = ListQuery(page_size=3, sort_field=field, sort_descending=descending)
    pages: list[Page[Any]] = []
    page = await resource.list(store, query)
    pages.append(page)
    while page.next_page_token:
        page = await resource.list(store, dataclasses.replace(query, page_token=page.next_page_token))
        pages.append(page)

    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [p.total_size for p in pages] == [COUNT] * 3
    assert [item for p in pages for item in p.items] == expected


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_pages_stay_correct_while_items_arrive(store: Store, descending: bool) -> None:
    originals = [builders.run(created=10 * i) for i in range(7)]
    for run in originals:
        await store.create_run(run)
    query = ListQuery(page_size=3, sort_descending=descending)
    first = await store.list_runs(query)
    cursor = first.items[-1]

    # Relative to the last item served, in sort order: ahead of it (must be served later)
    # and behind it (must not repeat or push anything off), including ties broken by id.
    # Generated run ids start with "run-": "aaa-" sorts before them, "zzz-" after.
    early, late = builders.run(created=-5), builders.run(created=65)
    tie_low = builders.run(created_at=cursor.created_at, run_id="aaa-tie")
    tie_high = builders.run(created_at=cursor.created_at, run_id="zzz-tie")
    ahead, behind = (
        ([early, tie_low], [late, tie_high]) if descending else ([late, tie_high], [early, tie_low])
    )
    for run in [*ahead, *behind]:
        await store.create_run(run)

    seen = [run.run_id for run in first.items + await _rest(store, query, first.next_page_token)]

    assert len(seen) == len(set(seen)), "an item was served twice"
    assert {run.run_id for run in originals} <= set(seen), "an item was skipped"
    assert {run.run_id for run in ahead} <= set(seen)
    assert not {run.run_id for run in behind} & set(seen)


async def test_pages_stay_correct_while_items_go(store: Store) -> None:
    runs = [builders.run(created=i) for i in range(9)]
    for run in runs:
        await store.create_run(run)
    query = ListQuery(page_size=3)
    deleted: list[str] = []
    served: list[Any] = []

    async def delete_last_served() -> None:
        deleted.append(served[-1].run_id)
        await store.delete_run(served[-1].run_id)

    page = await store.list_runs(query)
    served += page.items
    while page.next_page_token:
        await delete_last_served()
        page = await store.list_runs(dataclasses.replace(query, page_token=page.next_page_token))
        served += page.items

    assert served == runs
    assert page.total_size == len(runs) - len(deleted)


async def test_page_size_is_clamped(store: Store) -> None:
    await store.put_artifacts([builders.artifact(created=i) for i in range(MAX_PAGE_SIZE + 1)])
    big = await store.list_artifacts(query=ListQuery(page_size=MAX_PAGE_SIZE + 50))
    assert (len(big.items), big.total_size) == (MAX_PAGE_SIZE, MAX_PAGE_SIZE + 1)
    assert big.next_page_token
    default = await store.list_artifacts(query=ListQuery(page_size=0))
    assert len(default.items) == 20


async def test_empty_list(store: Store) -> None:
    page = await store.list_runs(ListQuery())
    assert (page.items, page.total_size, page.next_page_token) == ([], 0, "")


async def test_exact_last_page_has_no_token(store: Store) -> None:
    for i in range(3):
        await store.create_run(builders.run(created=i))
    page = await store.list_runs(ListQuery(page_size=3))
    assert (len(page.items), page.next_page_token) == (3, "")


async def _token(store: Store, query: ListQuery) -> str:
    for i in range(3):
        await store.create_run(builders.run(created=i, namespace="team-a", state=RuntimeState.RUNNING))
    token = (await store.list_runs(query, namespace="team-a")).next_page_token
    assert token
    return token


_RUNNING = Predicate(field="state", operation=Operation.EQUALS, value=RuntimeState.RUNNING)


@pytest.mark.parametrize(
    "change",
    [
        {"sort_field": "display_name"},
        {"sort_descending": True},
        {"predicates": ()},
        {"predicates": (_RUNNING, _RUNNING)},
        {"predicates": (dataclasses.replace(_RUNNING, operation=Operation.NOT_EQUALS),)},
    ],
    ids=["sort-field", "sort-direction", "no-filter", "other-filter", "other-operation"],
)
async def test_token_for_another_query_is_refused(store: Store, change: dict[str, Any]) -> None:
    query = ListQuery(page_size=1, predicates=(_RUNNING,))
    token = await _token(store, query)
    with pytest.raises(InvalidArgument) as raised:
        await store.list_runs(dataclasses.replace(query, page_token=token, **change), namespace="team-a")
    assert raised.value.field == "page_token"


async def test_token_for_another_scope_or_resource_is_refused(store: Store) -> None:
    query = ListQuery(page_size=1)
    token = await _token(store, query)
    with pytest.raises(InvalidArgument):
        await store.list_runs(dataclasses.replace(query, page_token=token), namespace="team-b")
    with pytest.raises(InvalidArgument):
        await store.list_runs(dataclasses.replace(query, page_token=token), experiment_id="exp-default")
    with pytest.raises(InvalidArgument):
        await store.list_recurring_runs(dataclasses.replace(query, page_token=token), namespace="team-a")
    # Another page size is the same query.
    again = await store.list_runs(
        dataclasses.replace(query, page_token=token, page_size=5), namespace="team-a"
    )
    assert len(again.items) == 2


def _altered(token: str) -> Sequence[str]:
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body["id"] = "aaa"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    return [forged, token[:-2], token + "x", "not a token", "!!!!", base64.urlsafe_b64encode(b"[1]").decode()]


async def test_altered_token_is_refused(store: Store) -> None:
    query = ListQuery(page_size=1)
    token = await _token(store, query)
    for bad in _altered(token):
        with pytest.raises(InvalidArgument):
            await store.list_runs(dataclasses.replace(query, page_token=bad), namespace="team-a")


@pytest.mark.parametrize(
    "query",
    [
        ListQuery(sort_field="no_such_field"),
        ListQuery(sort_field="doc"),
        ListQuery(predicates=(Predicate(field="no_such_field", operation=Operation.EQUALS, value="x"),)),
        ListQuery(predicates=(Predicate(field="created_at", operation=Operation.EQUALS, value="yesterday"),)),
        ListQuery(predicates=(Predicate(field="state", operation=Operation.EQUALS, value="NOT_A_STATE"),)),
        ListQuery(predicates=(Predicate(field="display_name", operation=Operation.IN, value="x"),)),
        ListQuery(predicates=(Predicate(field="state", operation=Operation.IS_SUBSTRING, value="RUN"),)),
    ],
    ids=["sort-field", "sort-column", "filter-field", "value-type", "enum-value", "in-scalar", "operation"],
)
async def test_bad_query_is_refused(store: Store, query: ListQuery) -> None:
    with pytest.raises(InvalidArgument):
        await store.list_runs(query)

from __future__ import annotations

import dataclasses

import pytest

from services.core.errors import AlreadyExists, ConcurrentModification, NotFound
from services.core.store.base import Store
from services.core.store.query import ListQuery
from services.core.store.records import RecurringRunStatus
from tests.contract.store import builders


async def test_create_then_get_returns_every_field(store: Store) -> None:
    recurring_run = builders.full_recurring_run()
    await store.create_recurring_run(recurring_run)
    assert await store.get_recurring_run(recurring_run.recurring_run_id) == recurring_run


async def test_same_id_twice_raises_already_exists(store: Store) -> None:
    recurring_run = builders.recurring_run()
    await store.create_recurring_run(recurring_run)
    with pytest.raises(AlreadyExists):
        await store.create_recurring_run(recurring_run)


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_recurring_run("no-such-recurring-run")


async def test_update_is_compare_and_set(store: Store) -> None:
    recurring_run = builders.recurring_run()
    await store.create_recurring_run(recurring_run)
    read = await store.get_recurring_run(recurring_run.recurring_run_id)

    fired = await store.update_recurring_run(dataclasses.replace(read, last_fired_at=builders.at(60)))
    assert fired.version == read.version + 1
    assert await store.get_recurring_run(recurring_run.recurring_run_id) == fired
    with pytest.raises(ConcurrentModification):
        await store.update_recurring_run(dataclasses.replace(read, status=RecurringRunStatus.DISABLED))
    with pytest.raises(NotFound):
        await store.update_recurring_run(builders.recurring_run())


async def test_delete(store: Store) -> None:
    recurring_run = builders.recurring_run()
    await store.create_recurring_run(recurring_run)
    await store.delete_recurring_run(recurring_run.recurring_run_id)
    with pytest.raises(NotFound):
        await store.get_recurring_run(recurring_run.recurring_run_id)
    with pytest.raises(NotFound):
        await store.delete_recurring_run(recurring_run.recurring_run_id)


async def test_list_enabled(store: Store) -> None:
    enabled = [builders.recurring_run(created=i) for i in range(2)]
    disabled = builders.recurring_run(status=RecurringRunStatus.DISABLED)
    for recurring_run in [*enabled, disabled]:
        await store.create_recurring_run(recurring_run)
    assert await store.list_enabled_recurring_runs() == enabled

    await store.update_recurring_run(dataclasses.replace(enabled[0], status=RecurringRunStatus.DISABLED))
    assert await store.list_enabled_recurring_runs() == enabled[1:]


async def test_list_is_scoped_to_experiment_and_namespace(store: Store) -> None:
    in_a = [builders.recurring_run(experiment_id="exp-a", namespace="team-a", created=i) for i in range(2)]
    in_b = builders.recurring_run(experiment_id="exp-b", namespace="team-a", created=5)
    elsewhere = builders.recurring_run(experiment_id="exp-a", namespace="team-b", created=6)
    for recurring_run in [*in_a, in_b, elsewhere]:
        await store.create_recurring_run(recurring_run)

    page = await store.list_recurring_runs(ListQuery(), namespace="team-a", experiment_id="exp-a")
    assert (page.items, page.total_size) == (in_a, 2)
    assert (await store.list_recurring_runs(ListQuery(), experiment_id="exp-a")).items == [*in_a, elsewhere]
    assert (await store.list_recurring_runs(ListQuery(), namespace="team-a")).items == [*in_a, in_b]
    assert (await store.list_recurring_runs(ListQuery())).total_size == 4

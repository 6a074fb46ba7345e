from __future__ import annotations

import dataclasses

import pytest

from services.core.errors import AlreadyExists, NotFound
from services.core.store.base import Store
from services.core.store.query import ListQuery
from services.core.store.records import StorageState
from tests.contract.store import builders


async def test_create_then_get_returns_every_field(store: Store) -> None:
    experiment = builders.full_experiment()
    await store.create_experiment(experiment)
    assert await store.get_experiment(experiment.experiment_id) == experiment


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_experiment("no-such-experiment")


async def test_same_id_twice_raises_already_exists(store: Store) -> None:
    experiment = builders.experiment()
    await store.create_experiment(experiment)
    with pytest.raises(AlreadyExists):
        await store.create_experiment(dataclasses.replace(experiment, display_name="another"))


async def test_display_name_is_unique_within_a_namespace(store: Store) -> None:
    first = builders.experiment(namespace="team-a")
    await store.create_experiment(first)
    with pytest.raises(AlreadyExists) as raised:
        await store.create_experiment(
            builders.experiment(namespace="team-a", display_name=first.display_name)
        )
    assert raised.value.identifier == first.display_name
    await store.create_experiment(builders.experiment(namespace="team-b", display_name=first.display_name))


async def test_update_replaces_mutable_fields(store: Store) -> None:
    experiment = builders.experiment()
    await store.create_experiment(experiment)
    changed = dataclasses.replace(
        experiment,
        description="archived now",
        storage_state=StorageState.ARCHIVED,
        last_run_created_at=builders.at(30),
    )
    await store.update_experiment(changed)
    assert await store.get_experiment(experiment.experiment_id) == changed


async def test_update_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_experiment(builders.experiment())


async def test_update_onto_a_taken_name_raises_already_exists(store: Store) -> None:
    taken, renamed = builders.experiment(), builders.experiment()
    await store.create_experiment(taken)
    await store.create_experiment(renamed)
    with pytest.raises(AlreadyExists):
        await store.update_experiment(dataclasses.replace(renamed, display_name=taken.display_name))
    assert await store.get_experiment(renamed.experiment_id) == renamed


async def test_delete(store: Store) -> None:
    experiment = builders.experiment()
    await store.create_experiment(experiment)
    await store.delete_experiment(experiment.experiment_id)
    with pytest.raises(NotFound):
        await store.get_experiment(experiment.experiment_id)
    with pytest.raises(NotFound):
        await store.delete_experiment(experiment.experiment_id)


async def test_list_is_scoped_to_a_namespace(store: Store) -> None:
    team_a = [builders.experiment(namespace="team-a", created=i) for i in range(3)]
    team_b = [builders.experiment(namespace="team-b", created=i) for i in range(2)]
    for experiment in team_a + team_b:
        await store.create_experiment(experiment)

    page = await store.list_experiments(ListQuery(), namespace="team-a")
    assert page.items == team_a
    assert page.total_size == 3
    everything = await store.list_experiments(ListQuery())
    assert everything.total_size == 5

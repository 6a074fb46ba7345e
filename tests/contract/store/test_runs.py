from __future__ import annotations

import dataclasses

import pytest

from services.core.errors import AlreadyExists, ConcurrentModification, NotFound
from services.core.pipeline.model import JsonValue
from services.core.store.base import Store
from services.core.store.query import ListQuery
from services.core.store.records import ACTIVE_STATES, RuntimeState, StateChange
from tests.contract.store import builders


async def test_create_then_get_returns_every_field(store: Store) -> None:
    run = builders.full_run()
    await store.create_run(run)
    assert await store.get_run(run.run_id) == run


async def test_create_with_tasks_stores_both(store: Store) -> None:
    run = builders.run()
    tasks = [builders.task(run.run_id, path="root", created=0), builders.task(run.run_id, created=1)]
    await store.create_run(run, tasks)
    assert await store.list_tasks(run.run_id) == tasks


async def test_create_with_tasks_is_atomic(store: Store) -> None:
    run = builders.run()
    clash = builders.task(run.run_id, path="root")
    with pytest.raises(AlreadyExists):
        await store.create_run(run, [clash, builders.task(run.run_id, path="root")])
    with pytest.raises(NotFound):
        await store.get_run(run.run_id)
    with pytest.raises(NotFound):
        await store.get_task(clash.task_id)


async def test_same_id_twice_raises_already_exists(store: Store) -> None:
    run = builders.run()
    await store.create_run(run)
    task = builders.task(run.run_id)
    with pytest.raises(AlreadyExists):
        await store.create_run(run, [task])
    with pytest.raises(NotFound):
        await store.get_task(task.task_id)


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_run("no-such-run")


async def test_update_bumps_the_version(store: Store) -> None:
    run = builders.run()
    await store.create_run(run)
    changed = dataclasses.replace(
        run,
        state=RuntimeState.RUNNING,
        state_history=[StateChange(state=RuntimeState.RUNNING, time=builders.at(5))],
    )
    stored = await store.update_run(changed)
    assert stored == dataclasses.replace(changed, version=run.version + 1)
    assert await store.get_run(run.run_id) == stored
    again = await store.update_run(dataclasses.replace(stored, state=RuntimeState.SUCCEEDED))
    assert again.version == run.version + 2


async def test_two_writers_from_the_same_read_conflict(store: Store) -> None:
    run = builders.run()
    await store.create_run(run)
    read = await store.get_run(run.run_id)
    winner = await store.update_run(dataclasses.replace(read, state=RuntimeState.RUNNING))
    with pytest.raises(ConcurrentModification):
        await store.update_run(dataclasses.replace(read, state=RuntimeState.CANCELED))
    assert await store.get_run(run.run_id) == winner


async def test_update_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_run(builders.run())


async def test_delete_removes_the_tasks(store: Store) -> None:
    run, other = builders.run(), builders.run()
    task = builders.task(run.run_id)
    other_task = builders.task(other.run_id)
    await store.create_run(run, [task])
    await store.create_run(other, [other_task])
    await store.delete_run(run.run_id)
    with pytest.raises(NotFound):
        await store.get_run(run.run_id)
    with pytest.raises(NotFound):
        await store.get_task(task.task_id)
    assert await store.list_tasks(run.run_id) == []
    assert await store.get_task(other_task.task_id) == other_task
    with pytest.raises(NotFound):
        await store.delete_run(run.run_id)


async def test_active_runs(store: Store) -> None:
    runs = {state: builders.run(state=state, created=i) for i, state in enumerate(RuntimeState)}
    for run in runs.values():
        await store.create_run(run)
    active = [runs[state].run_id for state in RuntimeState if state in ACTIVE_STATES]
    assert await store.list_active_run_ids() == active


async def test_count_active_runs_of_a_recurring_run(store: Store) -> None:
    for state in RuntimeState:
        await store.create_run(builders.run(recurring_run_id="rr-1", state=state))
    await store.create_run(builders.run(recurring_run_id="rr-2", state=RuntimeState.RUNNING))
    await store.create_run(builders.run(state=RuntimeState.RUNNING))
    assert await store.count_active_runs(recurring_run_id="rr-1") == len(ACTIVE_STATES)
    assert await store.count_active_runs(recurring_run_id="rr-2") == 1
    assert await store.count_active_runs(recurring_run_id="rr-none") == 0


async def test_list_is_scoped_to_experiment_and_namespace(store: Store) -> None:
    in_a = [builders.run(experiment_id="exp-a", namespace="team-a", created=i) for i in range(3)]
    in_b = builders.run(experiment_id="exp-b", namespace="team-a", created=9)
    elsewhere = builders.run(experiment_id="exp-a", namespace="team-b", created=10)
    for run in [*in_a, in_b, elsewhere]:
        await store.create_run(run)

    assert (await store.list_runs(ListQuery(), experiment_id="exp-a", namespace="team-a")).items == in_a
    by_experiment = await store.list_runs(ListQuery(), experiment_id="exp-a")
    assert (by_experiment.items, by_experiment.total_size) == ([*in_a, elsewhere], 4)
    by_namespace = await store.list_runs(ListQuery(), namespace="team-a")
    assert (by_namespace.items, by_namespace.total_size) == ([*in_a, in_b], 4)
    assert (await store.list_runs(ListQuery())).total_size == 5


# Keys MongoDB would read as paths or operators ("$ref" with "$id" even decodes as a DBRef),
# or BSON cannot hold (NUL), and ones that look escaped already.
ODD_KEYS: dict[str, JsonValue] = {
    "app.kubernetes.io/name": "dotted",
    "$ref": "x",
    "$id": 2,
    "$set": {"$inc": 1},
    "100%": "percent",
    "a%2Eb": "looks escaped",
    "%24x": "looks escaped too",
    "nul\0key": [{"nested.key": {"$gt": None}}],
    "": "empty",
}


async def test_json_with_keys_of_any_shape_round_trips(store: Store) -> None:
    run = dataclasses.replace(
        builders.run(), parameters=ODD_KEYS, pipeline_spec={**builders.SPEC, "platform": ODD_KEYS}
    )
    task = dataclasses.replace(builders.task(run.run_id), output_parameters=ODD_KEYS, scheduling=ODD_KEYS)
    await store.create_run(run, [task])

    assert await store.get_run(run.run_id) == run
    assert await store.get_task(task.task_id) == task
    updated = await store.update_task(dataclasses.replace(task, input_parameters={"k.v": ODD_KEYS}))
    assert await store.get_task(task.task_id) == updated

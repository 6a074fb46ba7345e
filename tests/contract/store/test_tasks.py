from __future__ import annotations

import dataclasses

import pytest

from services.core.errors import AlreadyExists, ConcurrentModification, NotFound
from services.core.store.base import Store
from services.core.store.records import RuntimeState
from tests.contract.store import builders


async def test_create_then_get_returns_every_field(store: Store) -> None:
    run = builders.run()
    await store.create_run(run)
    task = builders.full_task(run.run_id)
    assert await store.create_tasks([task]) == [task]
    assert await store.get_task(task.task_id) == task


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_task("no-such-task")


async def test_create_is_idempotent_on_run_and_path(store: Store) -> None:
    run = builders.run()
    first = builders.task(run.run_id, path="root/a")
    await store.create_run(run, [first])
    second = builders.task(run.run_id, path="root/b")
    again = builders.task(run.run_id, path="root/a", state=RuntimeState.RUNNING)

    stored = await store.create_tasks([again, second])

    assert stored == [first, second]
    with pytest.raises(NotFound):
        await store.get_task(again.task_id)
    # A redelivered batch (same ids, same paths) changes nothing either.
    assert await store.create_tasks([again, second]) == [first, second]
    assert await store.create_tasks([first]) == [first]
    assert await store.list_tasks(run.run_id) == [first, second]


async def test_same_path_in_another_run_is_another_task(store: Store) -> None:
    one, two = builders.run(), builders.run()
    tasks = [builders.task(one.run_id, path="root"), builders.task(two.run_id, path="root")]
    assert await store.create_tasks(tasks) == tasks


async def test_same_id_at_another_path_raises_already_exists(store: Store) -> None:
    run = builders.run()
    task = builders.task(run.run_id, path="root/a")
    await store.create_tasks([task])
    with pytest.raises(AlreadyExists):
        await store.create_tasks([dataclasses.replace(task, path="root/b")])


async def test_create_nothing(store: Store) -> None:
    assert await store.create_tasks([]) == []


async def test_list_orders_by_create_time_then_path(store: Store) -> None:
    run = builders.run()
    late = builders.task(run.run_id, path="root/a", created=5)
    early_b = builders.task(run.run_id, path="root/b", created=1)
    early_a = builders.task(run.run_id, path="root/a2", created=1)
    await store.create_tasks([late, early_b, early_a, builders.task("other-run")])
    assert await store.list_tasks(run.run_id) == [early_a, early_b, late]
    assert await store.list_tasks("no-such-run") == []


async def test_update_bumps_the_version(store: Store) -> None:
    task = builders.task("run-1")
    await store.create_tasks([task])
    changed = dataclasses.replace(task, state=RuntimeState.RUNNING, start_time=builders.at(2))
    stored = await store.update_task(changed)
    assert stored == dataclasses.replace(changed, version=task.version + 1)
    assert await store.get_task(task.task_id) == stored


async def test_two_writers_from_the_same_read_conflict(store: Store) -> None:
    task = builders.task("run-1")
    await store.create_tasks([task])
    read = await store.get_task(task.task_id)
    winner = await store.update_task(dataclasses.replace(read, state=RuntimeState.SUCCEEDED))
    with pytest.raises(ConcurrentModification):
        await store.update_task(dataclasses.replace(read, state=RuntimeState.FAILED))
    assert await store.get_task(task.task_id) == winner


async def test_update_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_task(builders.task("run-1"))


async def test_find_cached_task_takes_the_most_recent_real_success(store: Store) -> None:
    fingerprint = builders.new_id("sha256")
    older = builders.task("run-1", fingerprint=fingerprint, state=RuntimeState.SUCCEEDED, created=1)
    newest = builders.task("run-2", fingerprint=fingerprint, state=RuntimeState.SUCCEEDED, created=3)
    await store.create_tasks(
        [
            older,
            newest,
            # Later, but not a success or not a real execution: never a cache source.
            builders.task("run-3", fingerprint=fingerprint, state=RuntimeState.FAILED, created=5),
            builders.task("run-4", fingerprint=fingerprint, state=RuntimeState.RUNNING, created=6),
            builders.task("run-5", fingerprint=fingerprint, state=RuntimeState.SKIPPED, created=7),
            builders.task(
                "run-6",
                fingerprint=fingerprint,
                state=RuntimeState.SUCCEEDED,
                cached_from_task_id=newest.task_id,
                created=8,
            ),
            builders.task("run-7", fingerprint="other", state=RuntimeState.SUCCEEDED, created=9),
        ]
    )
    assert await store.find_cached_task(fingerprint) == newest


async def test_find_cached_task_without_a_match(store: Store) -> None:
    await store.create_tasks([builders.task("run-1", state=RuntimeState.SUCCEEDED)])
    assert await store.find_cached_task("no-such-fingerprint") is None
    assert await store.find_cached_task("") is None


async def test_find_cached_task_sees_updates(store: Store) -> None:
    fingerprint = builders.new_id("sha256")
    task = builders.task("run-1", fingerprint=fingerprint)
    await store.create_tasks([task])
    assert await store.find_cached_task(fingerprint) is None
    done = await store.update_task(dataclasses.replace(task, state=RuntimeState.SUCCEEDED))
    assert await store.find_cached_task(fingerprint) == done

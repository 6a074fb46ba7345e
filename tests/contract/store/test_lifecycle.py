from __future__ import annotations

import pytest

from services.core.errors import Unavailable
from services.core.store.base import Store
from tests.contract.store import builders


async def test_start_is_idempotent(store: Store) -> None:
    run = builders.run()
    await store.create_run(run)
    await store.start()
    assert await store.get_run(run.run_id) == run


async def test_data_survives_a_restart(store: Store) -> None:
    run = builders.full_run()
    await store.create_run(run, [builders.full_task(run.run_id)])
    await store.aclose()
    await store.start()
    assert await store.get_run(run.run_id) == run
    assert len(await store.list_tasks(run.run_id)) == 1


async def test_a_closed_store_is_unavailable(store: Store) -> None:
    await store.aclose()
    await store.aclose()
    with pytest.raises(Unavailable):
        await store.get_run("run-1")
    with pytest.raises(Unavailable):
        await store.create_experiment(builders.experiment())

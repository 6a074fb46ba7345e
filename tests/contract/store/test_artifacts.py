from __future__ import annotations

import dataclasses

import pytest

from services.core.errors import NotFound
from services.core.store.base import Store
from services.core.store.query import ListQuery
from tests.contract.store import builders


async def test_put_then_get_returns_every_field(store: Store) -> None:
    artifact = builders.full_artifact()
    await store.put_artifacts([artifact])
    assert await store.get_artifact(artifact.artifact_id) == artifact


async def test_put_replaces_by_id(store: Store) -> None:
    artifact = builders.artifact(run_id="run-1")
    await store.put_artifacts([artifact])
    replaced = dataclasses.replace(artifact, size_bytes=42, metadata={"accuracy": 0.9}, run_id="run-2")
    await store.put_artifacts([replaced, builders.artifact()])
    assert await store.get_artifact(artifact.artifact_id) == replaced
    assert (await store.list_artifacts(run_id="run-1")).items == []
    assert (await store.list_artifacts(run_id="run-2")).items == [replaced]


async def test_put_nothing(store: Store) -> None:
    await store.put_artifacts([])


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_artifact("no-such-artifact")


async def test_list_without_query_returns_every_match_oldest_first(store: Store) -> None:
    of_task = [builders.artifact(run_id="run-1", task_id="task-1", created=30 - i) for i in range(25)]
    of_other_task = builders.artifact(run_id="run-1", task_id="task-2", created=100)
    await store.put_artifacts([*of_task, of_other_task, builders.artifact(run_id="run-2")])

    page = await store.list_artifacts(task_id="task-1")
    assert (page.items, page.total_size, page.next_page_token) == (of_task[::-1], 25, "")
    by_run = await store.list_artifacts(run_id="run-1")
    assert by_run.items == [*of_task[::-1], of_other_task]
    assert (await store.list_artifacts(run_id="run-1", task_id="task-2")).items == [of_other_task]
    assert (await store.list_artifacts()).total_size == 27


async def test_list_with_a_query_pages(store: Store) -> None:
    artifacts = [builders.artifact(run_id="run-1", created=i) for i in range(5)]
    await store.put_artifacts(artifacts)
    first = await store.list_artifacts(run_id="run-1", query=ListQuery(page_size=3, sort_descending=True))
    assert (first.items, first.total_size) == (artifacts[:1:-1], 5)
    rest = await store.list_artifacts(
        run_id="run-1", query=ListQuery(page_size=3, sort_descending=True, page_token=first.next_page_token)
    )
    assert (rest.items, rest.next_page_token) == (artifacts[1::-1], "")

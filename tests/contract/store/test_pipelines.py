from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from services.core.errors import AlreadyExists, FailedPrecondition, NotFound
from services.core.store.base import Store
from services.core.store.query import ListQuery, Operation, Predicate
from services.core.store.records import PipelineUpdate, PipelineVersionUpdate
from tests.contract.store import builders


async def test_create_then_get_returns_every_field(store: Store) -> None:
    pipeline = builders.full_pipeline()
    version = builders.full_version(pipeline.pipeline_id)
    await store.create_pipeline(pipeline)
    await store.create_pipeline_version(version)
    assert await store.get_pipeline(pipeline.pipeline_id) == pipeline
    assert await store.get_pipeline_version(version.pipeline_version_id) == version


async def test_get_unknown_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_pipeline("no-such-pipeline")
    with pytest.raises(NotFound):
        await store.get_pipeline_version("no-such-version")
    with pytest.raises(NotFound):
        await store.get_pipeline_by_name("no-such-name")


async def test_get_by_name_matches_the_namespace_exactly(store: Store) -> None:
    shared = builders.pipeline()
    scoped = builders.pipeline(name=shared.name, namespace="team-a")
    await store.create_pipeline(shared)
    await store.create_pipeline(scoped)
    assert await store.get_pipeline_by_name(shared.name) == shared
    assert await store.get_pipeline_by_name(shared.name, namespace="team-a") == scoped
    with pytest.raises(NotFound):
        await store.get_pipeline_by_name(shared.name, namespace="team-b")


async def test_name_is_unique_within_a_namespace(store: Store) -> None:
    pipeline = builders.pipeline(namespace="team-a")
    await store.create_pipeline(pipeline)
    with pytest.raises(AlreadyExists) as raised:
        await store.create_pipeline(builders.pipeline(name=pipeline.name, namespace="team-a"))
    assert raised.value.identifier == pipeline.name
    with pytest.raises(AlreadyExists):
        await store.create_pipeline(dataclasses.replace(pipeline, name="another"))
    await store.create_pipeline(builders.pipeline(name=pipeline.name, namespace="team-b"))


async def test_create_with_version_stores_both(store: Store) -> None:
    pipeline = builders.pipeline()
    version = builders.version(pipeline.pipeline_id)
    await store.create_pipeline_with_version(pipeline, version)
    assert await store.get_pipeline(pipeline.pipeline_id) == pipeline
    assert await store.latest_pipeline_version(pipeline.pipeline_id) == version


async def test_create_with_version_stores_neither_when_the_name_is_taken(store: Store) -> None:
    existing = builders.pipeline()
    await store.create_pipeline(existing)
    pipeline = builders.pipeline(name=existing.name)
    version = builders.version(pipeline.pipeline_id)
    with pytest.raises(AlreadyExists):
        await store.create_pipeline_with_version(pipeline, version)
    with pytest.raises(NotFound):
        await store.get_pipeline(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        await store.get_pipeline_version(version.pipeline_version_id)


async def test_create_with_version_stores_neither_when_the_version_exists(store: Store) -> None:
    other = builders.pipeline()
    taken = builders.version(other.pipeline_id)
    await store.create_pipeline_with_version(other, taken)
    pipeline = builders.pipeline()
    version = builders.version(pipeline.pipeline_id, pipeline_version_id=taken.pipeline_version_id)
    with pytest.raises(AlreadyExists):
        await store.create_pipeline_with_version(pipeline, version)
    with pytest.raises(NotFound):
        await store.get_pipeline(pipeline.pipeline_id)


async def test_version_of_an_unknown_pipeline_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.create_pipeline_version(builders.version("no-such-pipeline"))


async def test_version_name_is_unique_within_its_pipeline(store: Store) -> None:
    first, second = builders.pipeline(), builders.pipeline()
    await store.create_pipeline(first)
    await store.create_pipeline(second)
    version = builders.version(first.pipeline_id)
    await store.create_pipeline_version(version)
    with pytest.raises(AlreadyExists) as raised:
        await store.create_pipeline_version(builders.version(first.pipeline_id, name=version.name))
    assert raised.value.identifier == version.name
    with pytest.raises(AlreadyExists):
        await store.create_pipeline_version(dataclasses.replace(version, name="other"))
    await store.create_pipeline_version(builders.version(second.pipeline_id, name=version.name))


async def test_latest_version_is_the_most_recently_created(store: Store) -> None:
    pipeline = builders.pipeline()
    await store.create_pipeline(pipeline)
    with pytest.raises(NotFound):
        await store.latest_pipeline_version(pipeline.pipeline_id)
    newest = builders.version(pipeline.pipeline_id, created=20)
    for version in (builders.version(pipeline.pipeline_id, created=10), newest):
        await store.create_pipeline_version(version)
    await store.create_pipeline_version(builders.version(pipeline.pipeline_id, created=5))
    assert await store.latest_pipeline_version(pipeline.pipeline_id) == newest


async def test_list_versions_is_scoped_to_the_pipeline(store: Store) -> None:
    pipeline, other = builders.pipeline(), builders.pipeline()
    await store.create_pipeline(pipeline)
    await store.create_pipeline(other)
    versions = [builders.version(pipeline.pipeline_id, created=i) for i in range(3)]
    for version in [*versions, builders.version(other.pipeline_id)]:
        await store.create_pipeline_version(version)
    page = await store.list_pipeline_versions(pipeline.pipeline_id, ListQuery())
    assert page.items == versions
    assert page.total_size == 3
    empty = await store.list_pipeline_versions("no-such-pipeline", ListQuery())
    assert (empty.items, empty.total_size) == ([], 0)


async def test_delete_with_versions_needs_cascade(store: Store) -> None:
    pipeline = builders.pipeline()
    version = builders.version(pipeline.pipeline_id)
    await store.create_pipeline_with_version(pipeline, version)
    with pytest.raises(FailedPrecondition):
        await store.delete_pipeline(pipeline.pipeline_id)
    assert await store.get_pipeline_version(version.pipeline_version_id) == version

    await store.delete_pipeline(pipeline.pipeline_id, cascade=True)
    with pytest.raises(NotFound):
        await store.get_pipeline(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        await store.get_pipeline_version(version.pipeline_version_id)


async def test_delete_without_versions(store: Store) -> None:
    pipeline = builders.pipeline()
    await store.create_pipeline(pipeline)
    await store.delete_pipeline(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        await store.get_pipeline(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        await store.delete_pipeline(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        await store.delete_pipeline("no-such-pipeline", cascade=True)


async def test_delete_version(store: Store) -> None:
    pipeline = builders.pipeline()
    version = builders.version(pipeline.pipeline_id)
    await store.create_pipeline_with_version(pipeline, version)
    await store.delete_pipeline_version(version.pipeline_version_id)
    with pytest.raises(NotFound):
        await store.get_pipeline_version(version.pipeline_version_id)
    with pytest.raises(NotFound):
        await store.delete_pipeline_version(version.pipeline_version_id)
    await store.delete_pipeline(pipeline.pipeline_id)


async def test_list_is_scoped_to_a_namespace(store: Store) -> None:
    team_a = [builders.pipeline(namespace="team-a", created=i) for i in range(2)]
    for pipeline in [*team_a, builders.pipeline(namespace="team-b")]:
        await store.create_pipeline(pipeline)
    page = await store.list_pipelines(ListQuery(), namespace="team-a")
    assert (page.items, page.total_size) == (team_a, 2)
    assert (await store.list_pipelines(ListQuery())).total_size == 3


async def test_update_pipeline_sets_the_given_fields_only(store: Store) -> None:
    pipeline = builders.full_pipeline()
    await store.create_pipeline(pipeline)

    renamed = await store.update_pipeline(pipeline.pipeline_id, PipelineUpdate(display_name="Renamed ✓"))
    assert renamed == dataclasses.replace(pipeline, display_name="Renamed ✓")
    described = await store.update_pipeline(pipeline.pipeline_id, PipelineUpdate(description=""))
    assert described == dataclasses.replace(renamed, description="")
    tagged = await store.update_pipeline(pipeline.pipeline_id, PipelineUpdate(tags={"a.b": "1", "$c": ""}))
    # The tags are replaced as a whole, keys MongoDB gives meaning included.
    assert tagged == dataclasses.replace(described, tags={"a.b": "1", "$c": ""})
    assert await store.get_pipeline(pipeline.pipeline_id) == tagged
    assert await store.get_pipeline_by_name(pipeline.name, namespace=pipeline.namespace) == tagged
    assert await store.update_pipeline(pipeline.pipeline_id, PipelineUpdate()) == tagged


async def test_update_pipeline_of_every_mutable_field_at_once(store: Store) -> None:
    pipeline = builders.pipeline()
    await store.create_pipeline(pipeline)
    changes: dict[str, Any] = {"display_name": "d", "description": "about", "tags": {"team": "ml"}}

    updated = await store.update_pipeline(pipeline.pipeline_id, PipelineUpdate(**changes))

    assert updated == dataclasses.replace(pipeline, **changes)
    # The display name is filtered on: the store's list columns follow the update.
    query = ListQuery(predicates=(Predicate("display_name", Operation.EQUALS, "d"),))
    assert (await store.list_pipelines(query)).items == [updated]


async def test_update_unknown_pipeline_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_pipeline("no-such-pipeline", PipelineUpdate(display_name="x"))
    with pytest.raises(NotFound):
        await store.update_pipeline("no-such-pipeline", PipelineUpdate())


async def test_update_version_sets_the_given_fields_only(store: Store) -> None:
    pipeline = builders.pipeline()
    version = builders.full_version(pipeline.pipeline_id)
    await store.create_pipeline_with_version(pipeline, version)

    update = PipelineVersionUpdate(code_source_url="https://example.invalid/v2", tags={})
    updated = await store.update_pipeline_version(
        version.pipeline_version_id, update, pipeline_id=pipeline.pipeline_id
    )

    expected = dataclasses.replace(version, code_source_url="https://example.invalid/v2", tags={})
    assert updated == expected
    assert await store.get_pipeline_version(version.pipeline_version_id) == expected
    update = PipelineVersionUpdate(display_name="v2", description="second look")
    updated = await store.update_pipeline_version(
        version.pipeline_version_id, update, pipeline_id=pipeline.pipeline_id
    )
    expected = dataclasses.replace(expected, display_name="v2", description="second look")
    assert updated == expected
    query = ListQuery(predicates=(Predicate("display_name", Operation.EQUALS, "v2"),))
    assert (await store.list_pipeline_versions(pipeline.pipeline_id, query)).items == [expected]


async def test_update_version_of_another_pipeline_raises_not_found(store: Store) -> None:
    pipeline, other = builders.pipeline(), builders.pipeline()
    version = builders.version(pipeline.pipeline_id)
    await store.create_pipeline_with_version(pipeline, version)
    await store.create_pipeline(other)
    update = PipelineVersionUpdate(display_name="hijacked")

    for pipeline_id in (other.pipeline_id, "no-such-pipeline", ""):
        with pytest.raises(NotFound):
            await store.update_pipeline_version(version.pipeline_version_id, update, pipeline_id=pipeline_id)
        with pytest.raises(NotFound):
            await store.update_pipeline_version(
                version.pipeline_version_id, PipelineVersionUpdate(), pipeline_id=pipeline_id
            )
    with pytest.raises(NotFound):
        await store.update_pipeline_version("no-such-version", update, pipeline_id=pipeline.pipeline_id)
    assert await store.get_pipeline_version(version.pipeline_version_id) == version


async def test_concurrent_updates_of_different_fields_both_stay(store: Store) -> None:
    pipeline = builders.pipeline()
    await store.create_pipeline(pipeline)
    updates = [PipelineUpdate(display_name=f"name {i}") for i in range(5)]
    updates += [PipelineUpdate(description="described"), PipelineUpdate(tags={"k": "v"})]

    await asyncio.gather(*(store.update_pipeline(pipeline.pipeline_id, update) for update in updates))

    stored = await store.get_pipeline(pipeline.pipeline_id)
    assert (stored.description, stored.tags) == ("described", {"k": "v"})
    assert stored.display_name in {f"name {i}" for i in range(5)}

"""What a loop iterates: its items, kept on the loop's record as JSON."""

from __future__ import annotations

import json

from services.core.pipeline.model import ArtifactIterator, Constant, JsonValue, ParameterIterator, Task
from services.core.store.records import ArtifactRef, TaskRecord


class ItemsError(Exception):
    """The loop's items are not a list; the loop fails with this message."""


def loop_items(record: TaskRecord, task: Task) -> list[JsonValue]:
    """The items of a loop, resolved from the loop task's inputs.

    A parameter loop iterates raw items or the task input that holds the list (a JSON list
    or its text); an artifact loop iterates the artifacts of its list input, each item a
    one-artifact list in JSON form. Raises ItemsError."""
    iterator = task.iterator
    if isinstance(iterator, ArtifactIterator):
        artifacts = record.input_artifacts.get(iterator.items_input, [])
        return [[artifact_to_json(artifact)] for artifact in artifacts]
    assert isinstance(iterator, ParameterIterator)
    source = iterator.items.source
    value: JsonValue
    if iterator.items_input:
        value = record.input_parameters.get(iterator.items_input)
    elif isinstance(source, Constant):
        value = source.value
    else:
        raise ItemsError(f"loop {record.name!r}: unsupported item source")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ItemsError(f"loop {record.name!r}: items are not a JSON list: {error}") from error
    if not isinstance(value, list):
        raise ItemsError(f"loop {record.name!r}: items must be a list, got {type(value).__name__}")
    return list(value)


def artifact_to_json(artifact: ArtifactRef) -> JsonValue:
    return {
        "artifact_id": artifact.artifact_id,
        "name": artifact.name,
        "uri": artifact.uri,
        "schema_title": artifact.schema_title,
        "schema_version": artifact.schema_version,
        "metadata": dict(artifact.metadata),
    }


def artifacts_from_json(item: JsonValue) -> list[ArtifactRef]:
    """An artifact loop's item (see `loop_items`) as artifact references."""
    assert isinstance(item, list)
    refs: list[ArtifactRef] = []
    for value in item:
        assert isinstance(value, dict)
        metadata = value.get("metadata")
        refs.append(
            ArtifactRef(
                artifact_id=str(value["artifact_id"]),
                name=str(value["name"]),
                uri=str(value["uri"]),
                schema_title=str(value["schema_title"]),
                schema_version=str(value.get("schema_version") or "0.0.1"),
                metadata=dict(metadata) if isinstance(metadata, dict) else {},
            )
        )
    return refs

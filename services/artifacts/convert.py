"""Artifact records to and from their protobuf messages: the edge of the service."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from sluice.v1 import artifacts_pb2

from services.core.errors import InvalidArgument
from services.core.store.records import ArtifactRecord


def artifact_to_proto(record: ArtifactRecord) -> artifacts_pb2.Artifact:
    created_at = timestamp_pb2.Timestamp()
    created_at.FromDatetime(record.created_at)
    metadata = struct_pb2.Struct()
    metadata.update(record.metadata)
    return artifacts_pb2.Artifact(
        artifact_id=record.artifact_id,
        name=record.name,
        uri=record.uri,
        schema_title=record.schema_title,
        schema_version=record.schema_version,
        metadata=metadata,
        run_id=record.run_id,
        task_id=record.task_id,
        output_key=record.output_key,
        created_at=created_at,
        size_bytes=record.size_bytes,
    )


def artifact_from_proto(
    message: artifacts_pb2.Artifact, *, default_created_at: datetime | None = None
) -> ArtifactRecord:
    """The record a message describes. Metadata numbers come back as floats (a protobuf
    `Struct` has no integers). Raises InvalidArgument when `created_at` is unset and no
    default is given."""
    if message.HasField("created_at"):
        created_at = message.created_at.ToDatetime(tzinfo=UTC)
    elif default_created_at is not None:
        created_at = default_created_at
    else:
        raise InvalidArgument(f"artifact {message.name!r} has no created_at", field="created_at")
    return ArtifactRecord(
        artifact_id=message.artifact_id,
        name=message.name,
        uri=message.uri,
        schema_title=message.schema_title,
        schema_version=message.schema_version or "0.0.1",
        metadata=json_format.MessageToDict(message.metadata),
        run_id=message.run_id,
        task_id=message.task_id,
        output_key=message.output_key,
        created_at=created_at,
        size_bytes=message.size_bytes,
    )

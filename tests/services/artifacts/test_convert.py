from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sluice.v1 import artifacts_pb2

from services.artifacts.convert import artifact_from_proto, artifact_to_proto
from services.core.errors import InvalidArgument
from services.core.store.records import ArtifactRecord


def test_a_record_survives_the_round_trip() -> None:
    record = ArtifactRecord(
        artifact_id="a1",
        name="metrics",
        uri="minio://mlpipeline/v2/artifacts/run/metrics",
        schema_title="system.Metrics",
        schema_version="0.0.2",
        created_at=datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=UTC),
        metadata={"accuracy": 0.5, "labels": ["a", "b"], "nested": {"ok": True, "none": None}},
        run_id="r",
        task_id="t",
        output_key="metrics",
        size_bytes=42,
    )

    assert artifact_from_proto(artifact_to_proto(record)) == record


def test_metadata_numbers_come_back_as_floats() -> None:
    record = ArtifactRecord(
        "a", "n", "gs://b/k", "system.Artifact", datetime.now(UTC), metadata={"epochs": 3}
    )

    assert artifact_from_proto(artifact_to_proto(record)).metadata == {"epochs": 3.0}


def test_created_at_defaults_only_when_unset() -> None:
    default = datetime(2030, 1, 1, tzinfo=UTC)
    message = artifacts_pb2.Artifact(name="n", uri="gs://b/k")

    assert artifact_from_proto(message, default_created_at=default).created_at == default
    assert artifact_from_proto(message, default_created_at=default).schema_version == "0.0.1"
    with pytest.raises(InvalidArgument, match="created_at"):
        artifact_from_proto(message)

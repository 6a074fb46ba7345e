from __future__ import annotations

from services.artifacts import ArtifactRecords
from services.core.store.base import Store
from tests.services.artifacts.memory_records import InMemoryArtifactRecords


def _as_records(records: ArtifactRecords) -> ArtifactRecords:
    return records


def test_the_store_and_the_test_double_are_artifact_records() -> None:
    # Checked by mypy: the full Store, and the in-memory double, satisfy the narrow protocol.
    def from_store(store: Store) -> ArtifactRecords:
        return _as_records(store)

    assert from_store is not None
    assert _as_records(InMemoryArtifactRecords()) is not None

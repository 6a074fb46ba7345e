"""The names `services.artifacts` exports: changing them is a decision, not an accident."""

from __future__ import annotations

import services.artifacts


def test_public_names() -> None:
    assert sorted(services.artifacts.__all__) == [
        "ArtifactBackend",
        "ArtifactClient",
        "ArtifactPage",
        "ArtifactRecords",
        "ArtifactService",
        "ArtifactServicer",
        "DEFAULT_CHUNK_SIZE",
        "LocalBackend",
        "ObjectInfo",
        "add_artifact_servicer",
    ]
    for name in services.artifacts.__all__:
        assert getattr(services.artifacts, name) is not None

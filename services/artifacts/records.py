"""The part of the metadata store the artifact service uses.

`services.core.store.base.Store` satisfies this protocol structurally; tests may pass a
small in-memory implementation instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.core.store.query import ListQuery, Page
from services.core.store.records import ArtifactRecord


class ArtifactRecords(Protocol):
    async def put_artifacts(self, artifacts: Sequence[ArtifactRecord]) -> None:
        """Insert or replace artifact records by artifact_id."""
        ...

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """Raises NotFound."""
        ...

    async def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", query: ListQuery | None = None
    ) -> Page[ArtifactRecord]:
        """Artifacts of a run and/or task, a page at a time. Raises InvalidArgument for a bad
        page token."""
        ...

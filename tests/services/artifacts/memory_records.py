"""An in-memory `ArtifactRecords`: the artifact part of the store, for service tests."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from services.core.errors import InvalidArgument, NotFound
from services.core.store.query import DEFAULT_PAGE_SIZE, ListQuery, Page
from services.core.store.records import ArtifactRecord


class InMemoryArtifactRecords:
    def __init__(self) -> None:
        self._records: dict[str, ArtifactRecord] = {}

    async def put_artifacts(self, artifacts: Sequence[ArtifactRecord]) -> None:
        for artifact in artifacts:
            self._records[artifact.artifact_id] = copy.deepcopy(artifact)

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        try:
            return copy.deepcopy(self._records[artifact_id])
        except KeyError:
            raise NotFound("artifact", artifact_id) from None

    async def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", query: ListQuery | None = None
    ) -> Page[ArtifactRecord]:
        query = query or ListQuery(page_size=DEFAULT_PAGE_SIZE)
        matching = sorted(
            (
                r
                for r in self._records.values()
                if (not run_id or r.run_id == run_id) and (not task_id or r.task_id == task_id)
            ),
            key=lambda r: (r.created_at, r.artifact_id),
        )
        try:
            start = int(query.page_token or "0")
        except ValueError:
            raise InvalidArgument(f"bad page token {query.page_token!r}", field="page_token") from None
        end = start + query.page_size
        return Page(
            items=[copy.deepcopy(r) for r in matching[start:end]],
            total_size=len(matching),
            next_page_token=str(end) if end < len(matching) else "",
        )

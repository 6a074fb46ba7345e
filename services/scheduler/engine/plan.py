"""What one step of the engine decides: records to create or change, work to start."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.core.pipeline.model import ContainerExecutor, Task
from services.core.store.records import RunRecord, TaskRecord


@dataclass(frozen=True)
class Launch:
    """A container task attempt to start: the handler checks the cache, then dispatches."""

    task: TaskRecord
    spec: Task
    executor_label: str
    executor: ContainerExecutor


@dataclass
class Plan:
    created: list[TaskRecord] = field(default_factory=list)
    updated: list[TaskRecord] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)
    # Importer tasks whose artifact record must be registered with the artifact service.
    imported: list[TaskRecord] = field(default_factory=list)
    # Container tasks whose attempt must be stopped wherever it runs (the run is canceling).
    cancels: list[TaskRecord] = field(default_factory=list)
    run: RunRecord | None = None

    @property
    def empty(self) -> bool:
        return not (self.created or self.updated or self.launches or self.cancels or self.run is not None)

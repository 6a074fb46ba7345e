"""What `sluice.Client` returns: frozen dataclasses, the same whichever transport is used.

Times are timezone-aware `datetime`s (UTC), absent ones `None`; states are `StrEnum`s
that compare equal to the server's names (`run.state == "SUCCEEDED"`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RunState(StrEnum):
    """The state of a run or a task, named as in KFP."""

    UNSPECIFIED = "RUNTIME_STATE_UNSPECIFIED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    PAUSED = "PAUSED"


TERMINAL_STATES: frozenset[RunState] = frozenset(
    {RunState.SUCCEEDED, RunState.SKIPPED, RunState.FAILED, RunState.CANCELED}
)
"""States after which a run or task changes no more (unless the run is retried)."""


class StorageState(StrEnum):
    UNSPECIFIED = "STORAGE_STATE_UNSPECIFIED"
    AVAILABLE = "AVAILABLE"
    ARCHIVED = "ARCHIVED"


class EventKind(StrEnum):
    UNSPECIFIED = "KIND_UNSPECIFIED"
    RUN_CREATED = "RUN_CREATED"
    RUN_STATE_CHANGED = "RUN_STATE_CHANGED"
    TASK_STATE_CHANGED = "TASK_STATE_CHANGED"


@dataclass(frozen=True)
class ErrorInfo:
    """Why a run, task or attempt failed."""

    code: int
    """The gRPC status code number (0 when the server gave none)."""
    message: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. Iterate it for its items; pass `next_page_token` for the next."""

    items: tuple[T, ...]
    total_size: int
    """How many items match the query, over all pages."""
    next_page_token: str
    """Empty on the last page."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    display_name: str
    description: str
    created_at: datetime | None
    namespace: str
    storage_state: StorageState
    last_run_created_at: datetime | None
    webhook_url: str
    """POSTed a signed JSON body when a run of this experiment finishes (Sluice)."""

    @property
    def archived(self) -> bool:
        return self.storage_state is StorageState.ARCHIVED


@dataclass(frozen=True)
class Pipeline:
    pipeline_id: str
    display_name: str
    name: str
    description: str
    created_at: datetime | None
    namespace: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class PipelineVersion:
    pipeline_id: str
    pipeline_version_id: str
    display_name: str
    name: str
    description: str
    created_at: datetime | None
    package_url: str
    code_source_url: str
    tags: Mapping[str, str]
    pipeline_spec: Mapping[str, Any] = field(repr=False)
    """The PipelineSpec; the PlatformSpec, when there is one, under "platform_spec"."""


@dataclass(frozen=True)
class TaskAttempt:
    """One attempt of a task; retries keep every attempt."""

    attempt: int
    state: RunState
    start_time: datetime | None
    end_time: datetime | None
    error: ErrorInfo | None
    log_uri: str
    exit_code: int


@dataclass(frozen=True)
class Task:
    """A task of a run: a container task, or a DAG (the root, a loop, a sub-pipeline...)."""

    task_id: str
    run_id: str
    name: str
    """The task's name in the pipeline (`root` for the pipeline itself)."""
    display_name: str
    kind: str
    """"CONTAINER", "DAG", ... as the server names it."""
    state: RunState
    parent_task_id: str
    create_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    error: ErrorInfo | None
    input_parameters: Mapping[str, Any]
    output_parameters: Mapping[str, Any]
    input_artifacts: Mapping[str, tuple[str, ...]]
    """Artifact ids of each input."""
    output_artifacts: Mapping[str, tuple[str, ...]]
    """Artifact ids of each output."""
    child_task_ids: tuple[str, ...]
    attempts: tuple[TaskAttempt, ...]
    cached_from_task_id: str
    """The task whose outputs this one reused, when it was a cache hit."""
    log_uri: str

    @property
    def cached(self) -> bool:
        return bool(self.cached_from_task_id)

    @property
    def duration(self) -> timedelta | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time


@dataclass(frozen=True)
class PipelineVersionReference:
    pipeline_id: str
    pipeline_version_id: str


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    display_name: str
    description: str
    state: RunState
    storage_state: StorageState
    error: ErrorInfo | None
    created_at: datetime | None
    scheduled_at: datetime | None
    finished_at: datetime | None
    parameters: Mapping[str, Any]
    """The run's pipeline parameters (its runtime config)."""
    pipeline_root: str
    pipeline_version_reference: PipelineVersionReference | None
    recurring_run_id: str
    disable_cache: bool
    metrics: Mapping[str, float]
    """The scalar metrics its tasks logged (cache hits included), once it has finished."""
    tasks: tuple[Task, ...] = field(repr=False)
    pipeline_spec: Mapping[str, Any] = field(repr=False)
    """The run's PipelineSpec when it was started from one (not from a pipeline version)."""

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state is RunState.SUCCEEDED

    @property
    def root(self) -> Task | None:
        """The task of the pipeline itself, once the run has started."""
        return next((task for task in self.tasks if not task.parent_task_id), None)

    @property
    def outputs(self) -> Mapping[str, Any]:
        """The pipeline's output parameters."""
        root = self.root
        return root.output_parameters if root is not None else {}

    def task(self, name: str) -> Task:
        """The task with this id, name or display name.

        Raises:
            KeyError: no task, or several tasks (the iterations of a loop), have that name.
        """
        found = [t for t in self.tasks if name in (t.task_id, t.name, t.display_name)]
        if len(found) == 1:
            return found[0]
        names = ", ".join(sorted({t.display_name or t.name for t in self.tasks}))
        if not found:
            raise KeyError(f"run {self.run_id} has no task {name!r}; its tasks: {names}")
        raise KeyError(f"run {self.run_id} has {len(found)} tasks named {name!r}; use a task id")


@dataclass(frozen=True)
class RunEvent:
    """Something that happened to a run or one of its tasks, in the order it happened."""

    kind: EventKind
    run_id: str
    task_id: str
    task_name: str
    display_name: str
    parent_task_id: str
    state: RunState
    attempt: int
    time: datetime | None
    error: ErrorInfo | None
    output_parameters: Mapping[str, Any]
    sequence: int
    """The event's position in the run's stream: watch again after it to resume."""
    experiment_id: str
    cached: bool
    """A task whose outputs came from the cache."""

    @property
    def finishes_run(self) -> bool:
        return self.kind is EventKind.RUN_STATE_CHANGED and self.state in TERMINAL_STATES


@dataclass(frozen=True)
class RecurringRun:
    recurring_run_id: str
    display_name: str
    description: str
    cron: str
    """A six-field cron expression (seconds first), or "" for an interval schedule."""
    interval_seconds: int
    """The interval of an interval schedule, or 0 for a cron schedule."""
    start_time: datetime | None
    end_time: datetime | None
    enabled: bool
    max_concurrency: int
    catchup: bool
    """Whether the runs missed while disabled or down are started afterwards."""
    experiment_id: str
    namespace: str
    parameters: Mapping[str, Any]
    pipeline_root: str
    pipeline_version_reference: PipelineVersionReference | None
    created_at: datetime | None
    updated_at: datetime | None
    webhook_url: str


@dataclass(frozen=True)
class Artifact:
    """An artifact record; `metadata` holds what `Metrics.log_metric`,
    `ClassificationMetrics.log_confusion_matrix`, ... wrote."""

    artifact_id: str
    name: str
    uri: str
    schema_title: str
    schema_version: str
    metadata: Mapping[str, Any]
    run_id: str
    task_id: str
    output_key: str
    created_at: datetime | None
    size_bytes: int

"""The records the metadata store keeps, and the partial updates it applies to some of
them: plain typed data, no I/O.

States follow KFP v2beta1 (`V2beta1RuntimeState`); the named sets are the one place that
says which states are final.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.core.pipeline.model import JsonValue


class RuntimeState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    PAUSED = "PAUSED"


TERMINAL_STATES: frozenset[RuntimeState] = frozenset(
    {RuntimeState.SUCCEEDED, RuntimeState.SKIPPED, RuntimeState.FAILED, RuntimeState.CANCELED}
)
ACTIVE_STATES: frozenset[RuntimeState] = frozenset(
    {RuntimeState.PENDING, RuntimeState.RUNNING, RuntimeState.CANCELING, RuntimeState.PAUSED}
)
# A task in one of these states lets its dependants run (SKIPPED = cache hit or not triggered
# is decided by the scheduler, which looks at `TaskRecord.cached_from_task_id`).
SUCCESS_STATES: frozenset[RuntimeState] = frozenset({RuntimeState.SUCCEEDED})


class StorageState(StrEnum):
    AVAILABLE = "AVAILABLE"
    ARCHIVED = "ARCHIVED"


class TaskKind(StrEnum):
    CONTAINER = "CONTAINER"
    IMPORTER = "IMPORTER"
    DAG = "DAG"
    LOOP = "LOOP"
    ITERATION = "ITERATION"


class RecurringRunStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


@dataclass(frozen=True)
class ErrorInfo:
    message: str
    code: int = 2  # gRPC UNKNOWN, as KFP reports task failures


@dataclass(frozen=True)
class StateChange:
    state: RuntimeState
    time: datetime
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class ArtifactRef:
    """An artifact as the scheduler passes it between tasks (a copy of the artifact record)."""

    artifact_id: str
    name: str
    uri: str
    schema_title: str
    schema_version: str = "0.0.1"
    metadata: dict[str, JsonValue] = field(default_factory=dict)


@dataclass
class ExperimentRecord:
    experiment_id: str
    display_name: str
    created_at: datetime
    description: str = ""
    namespace: str = ""
    storage_state: StorageState = StorageState.AVAILABLE
    last_run_created_at: datetime | None = None
    # Where to POST a notice when one of its runs finishes ("" for none).
    webhook_url: str = ""


@dataclass
class PipelineRecord:
    pipeline_id: str
    name: str
    display_name: str
    created_at: datetime
    description: str = ""
    namespace: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class PipelineVersionRecord:
    pipeline_version_id: str
    pipeline_id: str
    name: str
    display_name: str
    created_at: datetime
    # The PipelineSpec as JSON (plus "platform_spec" when the IR had a second document).
    pipeline_spec: dict[str, JsonValue]
    description: str = ""
    package_url: str = ""
    code_source_url: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _FieldUpdate:
    def changes(self) -> dict[str, Any]:
        """The fields this update sets, by name."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class PipelineUpdate(_FieldUpdate):
    """New values for a pipeline's mutable fields; None leaves a field as it is. The other
    fields (ids, name, namespace, created_at) are fixed at creation."""

    display_name: str | None = None
    description: str | None = None
    # Replaces the tags as a whole.
    tags: dict[str, str] | None = None


@dataclass(frozen=True)
class PipelineVersionUpdate(_FieldUpdate):
    """New values for a pipeline version's mutable fields; None leaves a field as it is. The
    other fields (ids, name, created_at, the spec and package_url) are fixed at creation."""

    display_name: str | None = None
    description: str | None = None
    code_source_url: str | None = None
    # Replaces the tags as a whole.
    tags: dict[str, str] | None = None


@dataclass
class RunRecord:
    run_id: str
    experiment_id: str
    display_name: str
    created_at: datetime
    pipeline_spec: dict[str, JsonValue]
    description: str = ""
    namespace: str = ""
    pipeline_id: str = ""
    pipeline_version_id: str = ""
    parameters: dict[str, JsonValue] = field(default_factory=dict)
    pipeline_root: str = ""
    service_account: str = ""
    state: RuntimeState = RuntimeState.PENDING
    error: ErrorInfo | None = None
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    storage_state: StorageState = StorageState.AVAILABLE
    recurring_run_id: str = ""
    state_history: list[StateChange] = field(default_factory=list)
    disable_cache: bool = False
    # The scalar metrics of the run's Metrics outputs, set when it finishes (for run lists).
    metrics: dict[str, float] = field(default_factory=dict)
    # Compare-and-set guard: bumped by the store on every update.
    version: int = 0


@dataclass
class AttemptRecord:
    attempt: int
    state: RuntimeState
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: ErrorInfo | None = None
    log_uri: str = ""
    exit_code: int | None = None
    executor_id: str = ""


@dataclass
class TaskRecord:
    """One task execution of a run: a container/importer task, or a DAG/loop/iteration node."""

    task_id: str
    run_id: str
    # Unique within the run: the task's position in the nested DAGs, e.g.
    # "root/for-loop-2/1/train" (loop iterations are numbered).
    path: str
    name: str
    display_name: str
    kind: TaskKind
    create_time: datetime
    parent_task_id: str = ""
    state: RuntimeState = RuntimeState.PENDING
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: ErrorInfo | None = None
    input_parameters: dict[str, JsonValue] = field(default_factory=dict)
    input_artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    output_parameters: dict[str, JsonValue] = field(default_factory=dict)
    output_artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    attempt: int = 0
    attempts: list[AttemptRecord] = field(default_factory=list)
    state_history: list[StateChange] = field(default_factory=list)
    # Set when the outputs were reused from an earlier execution (cache hit).
    cached_from_task_id: str = ""
    # The cache fingerprint of a container task ("" when caching does not apply).
    fingerprint: str = ""
    log_uri: str = ""
    pod_name: str = ""
    # Position of a loop iteration in its loop (-1 for other kinds).
    iteration_index: int = -1
    # Scheduler bookkeeping (e.g. when a retry becomes due), kept as JSON.
    scheduling: dict[str, JsonValue] = field(default_factory=dict)
    version: int = 0


@dataclass
class RecurringRunRecord:
    recurring_run_id: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    pipeline_spec: dict[str, JsonValue]
    description: str = ""
    namespace: str = ""
    experiment_id: str = ""
    pipeline_id: str = ""
    pipeline_version_id: str = ""
    parameters: dict[str, JsonValue] = field(default_factory=dict)
    pipeline_root: str = ""
    service_account: str = ""
    max_concurrency: int = 1
    # Exactly one trigger: a 6-field cron (seconds first) or an interval.
    cron: str = ""
    interval_seconds: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    no_catchup: bool = False
    status: RecurringRunStatus = RecurringRunStatus.ENABLED
    # The scheduled time of the last run this recurring run fired (the timer's cursor).
    last_fired_at: datetime | None = None
    # Where to POST a notice when a run it started finishes ("" for none).
    webhook_url: str = ""
    version: int = 0


@dataclass
class ArtifactRecord:
    artifact_id: str
    name: str
    uri: str
    schema_title: str
    created_at: datetime
    schema_version: str = "0.0.1"
    metadata: dict[str, JsonValue] = field(default_factory=dict)
    run_id: str = ""
    task_id: str = ""
    output_key: str = ""
    size_bytes: int = 0

"""The executor's domain model: one task attempt, as plain frozen dataclasses.

`services.executor.convert` builds these from a `TaskDispatch` at the edge; nothing below
that edge touches protobuf messages.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from services.core.pipeline.model import JsonValue, ParameterType

Arg: TypeAlias = "str | dict[str, JsonValue]"
"""One command or args element: a string with placeholders or a structured placeholder
(`{"Concat": [...]}` / `{"IfPresent": {...}}`) given as a JSON object."""


class AttemptState(enum.StrEnum):
    """How an attempt ended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class ArtifactInfo:
    """An artifact as the task sees it: an input, or an output after the task ran."""

    name: str
    """The artifact's name (for outputs: the output key)."""
    uri: str
    """Where the bytes live: `file:///…`, `s3://…`, `minio://…`, `gs://…` or a local path."""
    schema_title: str = "system.Artifact"
    """The artifact type, e.g. `system.Dataset`."""
    schema_version: str = ""
    """The artifact type's schema version, e.g. `0.0.1`."""
    metadata: Mapping[str, JsonValue] = field(default_factory=dict)
    """Free-form metadata (Metrics scalars, confusion matrices, …)."""
    artifact_id: str = ""
    """The artifact service's id, when the artifact is already registered."""


@dataclass(frozen=True)
class OutputArtifactSpec:
    """An output artifact the task must produce."""

    uri: str
    """The URI the output goes to, decided by the scheduler."""
    schema_title: str = "system.Artifact"
    """The artifact type, e.g. `system.Model`."""
    schema_version: str = ""
    """The artifact type's schema version."""
    metadata: Mapping[str, JsonValue] = field(default_factory=dict)
    """Metadata known before the task runs; the task's own metadata is merged over it."""


@dataclass(frozen=True)
class TaskResources:
    """Container resources from the IR; zero means "not set"."""

    cpu_limit: float = 0.0
    """CPU limit in cores."""
    cpu_request: float = 0.0
    """CPU request in cores."""
    memory_limit: float = 0.0
    """Memory limit in bytes."""
    memory_request: float = 0.0
    """Memory request in bytes."""
    accelerator_type: str = ""
    """A Kubernetes extended resource (`nvidia.com/gpu`) or a vendor name (`NVIDIA_TESLA_T4`, `GPU`)."""
    accelerator_count: int = 0
    """How many accelerators."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to run one attempt of one task."""

    run_id: str
    """The run this task belongs to."""
    task_id: str
    """The scheduler's id of the task execution."""
    attempt: int
    """The attempt number (retries count up)."""
    task_name: str
    """The task's name in the pipeline (`taskInfo.name`)."""
    pipeline_name: str
    """The pipeline's name (`pipelineInfo.name`)."""
    run_display_name: str
    """The run's display name."""
    pipeline_root: str
    """The root URI under which the run's outputs live."""
    image: str
    """The container image (not used by the local launcher)."""
    command: tuple[Arg, ...]
    """The container's command, unresolved."""
    args: tuple[Arg, ...]
    """The container's args, unresolved."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables declared by the task."""
    input_parameters: Mapping[str, JsonValue] = field(default_factory=dict)
    """Resolved input parameter values (defaults included), not yet coerced."""
    input_parameter_types: Mapping[str, ParameterType] = field(default_factory=dict)
    """The declared type of each input parameter, when known."""
    input_artifacts: Mapping[str, tuple[ArtifactInfo, ...]] = field(default_factory=dict)
    """Resolved input artifacts; a list input has several."""
    output_parameters: Mapping[str, ParameterType | None] = field(default_factory=dict)
    """Output parameters the task must produce, with their declared types."""
    output_artifacts: Mapping[str, OutputArtifactSpec] = field(default_factory=dict)
    """Output artifacts the task must produce."""
    timeout_seconds: float | None = None
    """Stop the task after this long; None for no limit."""
    resources: TaskResources = field(default_factory=TaskResources)
    """CPU, memory and accelerators (enforced by the Kubernetes launcher, not the local one)."""
    platform: Mapping[str, JsonValue] = field(default_factory=dict)
    """The task's Kubernetes executor config from the PlatformSpec (kfp-kubernetes field
    names), parameters already resolved by the scheduler where it could."""


@dataclass(frozen=True)
class TaskOutputs:
    """What a successful task produced."""

    parameters: Mapping[str, JsonValue] = field(default_factory=dict)
    """Output parameter values, coerced to their declared types."""
    artifacts: Mapping[str, tuple[ArtifactInfo, ...]] = field(default_factory=dict)
    """Output artifacts at their final URIs, metadata merged."""


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt ended; `convert.result_from_outcome` makes a `TaskResult` of it."""

    state: AttemptState
    """SUCCEEDED, FAILED or CANCELED."""
    outputs: TaskOutputs = field(default_factory=TaskOutputs)
    """The outputs; empty unless SUCCEEDED."""
    error_code: int = 0
    """A gRPC status code for the failure (0 on success)."""
    error_message: str = ""
    """Why the attempt failed, with the tail of the task's log where it helps."""
    exit_code: int | None = None
    """The task process's exit code; None when it never ran."""
    log_path: str = ""
    """The local path of the attempt's log file."""
    pod_name: str = ""
    """The Kubernetes pod that ran the attempt; empty for a local process."""

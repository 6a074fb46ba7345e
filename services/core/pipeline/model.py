"""Sluice's typed model of a compiled pipeline.

The KFP IR (`PipelineSpec`) is parsed and validated once by `services.core.pipeline.ir`
and turned into these frozen objects; the scheduler and executor never see raw IR dicts.
The model keeps the IR's shape (components, DAGs of tasks, executors) because the
scheduler walks DAGs recursively: loops, conditions and nested pipelines are sub-DAGs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


class ParameterType(StrEnum):
    STRING = "STRING"
    NUMBER_INTEGER = "NUMBER_INTEGER"
    NUMBER_DOUBLE = "NUMBER_DOUBLE"
    BOOLEAN = "BOOLEAN"
    LIST = "LIST"
    STRUCT = "STRUCT"
    TASK_FINAL_STATUS = "TASK_FINAL_STATUS"
    # `dsl.TaskConfig` (kfp >= 2.15): the task's own resolved settings, passed as a struct.
    TASK_CONFIG = "TASK_CONFIG"


class TriggerStrategy(StrEnum):
    ALL_UPSTREAM_TASKS_SUCCEEDED = "ALL_UPSTREAM_TASKS_SUCCEEDED"
    ALL_UPSTREAM_TASKS_COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: ParameterType
    default: JsonValue = None
    has_default: bool = False
    optional: bool = False
    description: str = ""


@dataclass(frozen=True)
class ArtifactSpec:
    name: str
    schema_title: str
    schema_version: str = "0.0.1"
    is_list: bool = False
    optional: bool = False
    description: str = ""


@dataclass(frozen=True)
class Interface:
    """A component's inputs or outputs."""

    parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)


# --- where a task's inputs come from ------------------------------------------------


@dataclass(frozen=True)
class FromComponentInput:
    """The enclosing component's (DAG's) input parameter or artifact."""

    name: str


@dataclass(frozen=True)
class FromTaskOutput:
    """An output of a sibling task in the same DAG."""

    task: str
    key: str


@dataclass(frozen=True)
class Constant:
    value: JsonValue


@dataclass(frozen=True)
class FromTaskFinalStatus:
    """`PipelineTaskFinalStatus` of a task (exit handlers)."""

    task: str


ParameterSource: TypeAlias = FromComponentInput | FromTaskOutput | Constant | FromTaskFinalStatus
ArtifactSource: TypeAlias = FromComponentInput | FromTaskOutput


@dataclass(frozen=True)
class ParameterInput:
    source: ParameterSource
    # A CEL expression applied to the value (`parameterExpressionSelector`), e.g. sub-key access.
    selector: str | None = None


@dataclass(frozen=True)
class ArtifactInput:
    source: ArtifactSource


# --- executors ----------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """Container resources: CPU in cores, memory in bytes.

    A `str` value is a placeholder such as `{{$.inputs.parameters['pipelinechannel--cpu']}}`
    (resources set from a pipeline parameter); resolve it, then parse the text with
    `values.parse_cpu` / `values.parse_memory` / `int`.
    """

    cpu_limit: float | str | None = None
    cpu_request: float | str | None = None
    memory_limit: float | str | None = None
    memory_request: float | str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | str | None = None


@dataclass(frozen=True)
class ContainerExecutor:
    image: str
    # Strings with placeholders, or structured placeholders (Concat / IfPresent) as JSON
    # objects; kfp puts structured placeholders in `command` as well as in `args`.
    command: tuple[JsonValue, ...]
    args: tuple[JsonValue, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class ImporterExecutor:
    artifact_uri: ParameterInput
    schema_title: str
    schema_version: str = "0.0.1"
    metadata: Mapping[str, JsonValue] = field(default_factory=dict)
    reimport: bool = False


Executor: TypeAlias = ContainerExecutor | ImporterExecutor


# --- DAGs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_count: int = 0
    backoff_seconds: float = 0.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 3600.0


@dataclass(frozen=True)
class ParameterIterator:
    """`parameterIterator`: fan a sub-DAG out over a list of values."""

    # Where the list comes from, read in the enclosing DAG: a `Constant` for `items.raw`, or
    # the source of the task input named by `items.inputParameter` (`items_input`).
    items: ParameterInput
    # The name under which each item is passed to the sub-DAG (`itemInput`).
    item_input: str
    # The task input holding the whole list (`items.inputParameter`); "" for raw items.
    items_input: str = ""


@dataclass(frozen=True)
class ArtifactIterator:
    """`artifactIterator`: fan a sub-DAG out over the artifacts of a list input."""

    # The source of the task input named by `items.inputArtifact` (`items_input`).
    items: ArtifactInput
    item_input: str
    items_input: str = ""


@dataclass(frozen=True)
class Task:
    """A PipelineTaskSpec: one node of a DAG."""

    name: str
    component: str
    display_name: str = ""
    dependencies: tuple[str, ...] = ()
    parameters: Mapping[str, ParameterInput] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactInput] = field(default_factory=dict)
    enable_cache: bool = True
    cache_key: str = ""
    condition: str | None = None
    strategy: TriggerStrategy = TriggerStrategy.ALL_UPSTREAM_TASKS_SUCCEEDED
    iterator: ParameterIterator | ArtifactIterator | None = None
    parallelism: int = 0
    retry: RetryPolicy | None = None


@dataclass(frozen=True)
class DagParameterOutput:
    """A DAG output taken from one subtask, or the first produced of several (OneOf)."""

    sources: tuple[FromTaskOutput, ...]


@dataclass(frozen=True)
class DagArtifactOutput:
    sources: tuple[FromTaskOutput, ...]


@dataclass(frozen=True)
class Dag:
    tasks: Mapping[str, Task]
    parameter_outputs: Mapping[str, DagParameterOutput] = field(default_factory=dict)
    artifact_outputs: Mapping[str, DagArtifactOutput] = field(default_factory=dict)


@dataclass(frozen=True)
class Component:
    name: str
    inputs: Interface
    outputs: Interface
    # Exactly one of the two: a DAG (pipeline or group) or an executor label.
    dag: Dag | None = None
    executor: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline, ready to schedule."""

    name: str
    display_name: str
    description: str
    root: Component
    components: Mapping[str, Component]
    executors: Mapping[str, Executor]
    default_pipeline_root: str = ""
    # Kubernetes platform config per executor label (PlatformSpec), kept as JSON.
    platform: Mapping[str, Mapping[str, JsonValue]] = field(default_factory=dict)
    schema_version: str = "2.1.0"
    sdk_version: str = ""

    def component(self, name: str) -> Component:
        return self.components[name]

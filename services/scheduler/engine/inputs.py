"""Resolve a task's inputs inside one DAG instance."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.core.pipeline.model import (
    ArtifactInput,
    Component,
    Constant,
    FromComponentInput,
    FromTaskFinalStatus,
    FromTaskOutput,
    JsonValue,
    ParameterInput,
    Task,
)
from services.core.store.records import ArtifactRef, RuntimeState, TaskRecord
from services.scheduler.engine.selectors import apply_selector
from services.scheduler.engine.states import is_success


class MissingInput(Exception):
    """A required input has no value; the task fails with this message."""


@dataclass
class ResolvedInputs:
    parameters: dict[str, JsonValue] = field(default_factory=dict)
    artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)


ABSENT = object()
"""What `parameter_value` returns for a source without a value."""


@dataclass(frozen=True)
class Scope:
    """What a task can read: its DAG instance's inputs and its siblings' records.

    A loop iteration's record holds only its item; the other inputs of the loop's body are
    the loop's own (`inherited`), kept once rather than copied into every iteration."""

    run_id: str
    dag: TaskRecord
    siblings: Mapping[str, TaskRecord]
    inherited: TaskRecord | None = None

    def parameter(self, name: str) -> object:
        if name in self.dag.input_parameters:
            return self.dag.input_parameters[name]
        if self.inherited is not None:
            return self.inherited.input_parameters.get(name, ABSENT)
        return ABSENT

    def artifacts(self, name: str) -> list[ArtifactRef] | None:
        if name in self.dag.input_artifacts:
            return self.dag.input_artifacts[name]
        if self.inherited is not None:
            return self.inherited.input_artifacts.get(name)
        return None


_FINAL_STATE_NAMES = {
    RuntimeState.SUCCEEDED: "SUCCEEDED",
    RuntimeState.FAILED: "FAILED",
    RuntimeState.CANCELED: "CANCELLED",
    RuntimeState.SKIPPED: "SKIPPED",
}


def _final_status(scope: Scope, task_name: str) -> JsonValue:
    record = scope.siblings.get(task_name)
    if record is None:
        raise MissingInput(f"final status of task {task_name!r} is not known yet")
    error = record.error
    state = "SUCCEEDED" if is_success(record) else _FINAL_STATE_NAMES.get(record.state, record.state.value)
    return {
        "state": state,
        "pipelineJobResourceName": scope.run_id,
        "pipelineTaskName": record.name,
        "error": {"code": error.code, "message": error.message} if error else {},
    }


def parameter_value(scope: Scope, source: ParameterInput) -> object:
    """The value `source` names in `scope`; ABSENT when it has none (yet)."""
    origin = source.source
    value: object
    if isinstance(origin, Constant):
        value = origin.value
    elif isinstance(origin, FromComponentInput):
        value = scope.parameter(origin.name)
    elif isinstance(origin, FromTaskOutput):
        producer = scope.siblings.get(origin.task)
        if producer is None or not is_success(producer):
            return ABSENT
        value = producer.output_parameters.get(origin.key, ABSENT)
    elif isinstance(origin, FromTaskFinalStatus):
        value = _final_status(scope, origin.task)
    else:  # pragma: no cover - the model's union is closed
        raise TypeError(origin)
    if value is ABSENT or source.selector is None:
        return value
    return apply_selector(source.selector, value)  # type: ignore[arg-type]


def _artifact_value(scope: Scope, source: ArtifactInput) -> list[ArtifactRef] | None:
    origin = source.source
    if isinstance(origin, FromComponentInput):
        return scope.artifacts(origin.name)
    producer = scope.siblings.get(origin.task)
    if producer is None or not is_success(producer):
        return None
    return producer.output_artifacts.get(origin.key)


_INPUT_REFERENCE = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


def _as_text(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _substitute_references(parameters: dict[str, JsonValue]) -> None:
    """kfp compiles an f-string argument (`f"hi {name}"`) to a constant holding
    `{{$.inputs.parameters['pipelinechannel--name']}}` plus an extra input with the value;
    the constant is completed here, as KFP's driver does."""
    for name, value in parameters.items():
        if isinstance(value, str) and "{{$.inputs.parameters[" in value:
            parameters[name] = _INPUT_REFERENCE.sub(
                lambda match: _as_text(parameters.get(match.group(1), match.group(0))), value
            )


def resolve_inputs(scope: Scope, task: Task, component: Component) -> ResolvedInputs:
    """The task's parameter and artifact values; defaults filled in from the component.

    Raises MissingInput naming the first required input without a value. A loop's item
    input is exempt: each iteration gets its own."""
    resolved = ResolvedInputs()
    item_input = task.iterator.item_input if task.iterator is not None else ""
    for name, source in task.parameters.items():
        value = parameter_value(scope, source)
        if value is not ABSENT:
            resolved.parameters[name] = value  # type: ignore[assignment]
    _substitute_references(resolved.parameters)
    for name, spec in component.inputs.parameters.items():
        if name in resolved.parameters or name == item_input:
            continue
        if spec.has_default:
            resolved.parameters[name] = spec.default
        elif not spec.optional:
            raise MissingInput(f"input parameter {name!r} of task {task.name!r} has no value")
    for name, artifact_source in task.artifacts.items():
        artifacts = _artifact_value(scope, artifact_source)
        if artifacts is not None:
            resolved.artifacts[name] = artifacts
    for name, artifact_spec in component.inputs.artifacts.items():
        if name not in resolved.artifacts and name != item_input and not artifact_spec.optional:
            raise MissingInput(f"input artifact {name!r} of task {task.name!r} has no value")
    return resolved


def upstream_tasks(task: Task) -> set[str]:
    """Every sibling the task waits for: explicit dependencies and producers of its inputs."""
    names = set(task.dependencies)
    for source in task.parameters.values():
        if isinstance(source.source, FromTaskOutput | FromTaskFinalStatus):
            names.add(source.source.task)
    for artifact_source in task.artifacts.values():
        if isinstance(artifact_source.source, FromTaskOutput):
            names.add(artifact_source.source.task)
    return names

"""The protobuf edge of the executor: `TaskDispatch` → `TaskSpec`, `AttemptOutcome` → `TaskResult`."""

from __future__ import annotations

import math

from google.protobuf import struct_pb2
from sluice.v1 import common_pb2, tasks_pb2

from services.core.errors import InvalidArgument
from services.core.pipeline.model import ParameterType
from services.core.protovalues import from_struct, from_values_map, to_struct, to_timestamp, to_value, utc_now
from services.executor.task import (
    Arg,
    ArtifactInfo,
    AttemptOutcome,
    AttemptState,
    OutputArtifactSpec,
    TaskResources,
    TaskSpec,
)

_STATES = {
    AttemptState.SUCCEEDED: common_pb2.SUCCEEDED,
    AttemptState.FAILED: common_pb2.FAILED,
    AttemptState.CANCELED: common_pb2.CANCELED,
}


def task_from_dispatch(dispatch: tasks_pb2.TaskDispatch) -> TaskSpec:
    """The domain view of a dispatch; raises InvalidArgument for a malformed one."""
    container = dispatch.container
    timeout = dispatch.timeout_seconds
    return TaskSpec(
        run_id=dispatch.run_id,
        task_id=dispatch.task_id,
        attempt=dispatch.attempt,
        task_name=dispatch.task_name,
        pipeline_name=dispatch.pipeline_name,
        run_display_name=dispatch.run_display_name,
        pipeline_root=dispatch.pipeline_root,
        image=container.image,
        command=tuple(container.command),
        args=tuple(_arg(value, index) for index, value in enumerate(container.args)),
        env={variable.name: variable.value for variable in container.env},
        input_parameters=from_values_map(dispatch.input_parameters),
        input_parameter_types={
            name: parsed
            for name, type_name in dispatch.input_parameter_types.items()
            if (parsed := _parameter_type(type_name)) is not None
        },
        input_artifacts={
            name: tuple(_artifact(ref, name) for ref in refs.artifacts)
            for name, refs in dispatch.input_artifacts.items()
        },
        output_parameters={
            name: _parameter_type(spec.parameter_type) for name, spec in dispatch.output_parameters.items()
        },
        output_artifacts={
            name: OutputArtifactSpec(
                uri=spec.uri,
                schema_title=spec.schema_title or "system.Artifact",
                schema_version=spec.schema_version,
                metadata=from_struct(spec.metadata),
            )
            for name, spec in dispatch.output_artifacts.items()
        },
        timeout_seconds=timeout if timeout > 0 and math.isfinite(timeout) else None,
        resources=_resources(container.resources),
        platform=from_struct(dispatch.platform),
    )


def _resources(resources: tasks_pb2.Resources) -> TaskResources:
    return TaskResources(
        cpu_limit=resources.cpu_limit,
        cpu_request=resources.cpu_request,
        memory_limit=resources.memory_limit,
        memory_request=resources.memory_request,
        accelerator_type=resources.accelerator_type,
        accelerator_count=resources.accelerator_count,
    )


def _arg(value: struct_pb2.Value, index: int) -> Arg:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    raise InvalidArgument(f"container arg {index} must be a string or a structured placeholder", field="args")


def _parameter_type(name: str) -> ParameterType | None:
    """The declared type; None for an empty or unknown name (values are then not coerced)."""
    try:
        return ParameterType(name)
    except ValueError:
        return None


def _artifact(ref: tasks_pb2.ArtifactRef, input_name: str) -> ArtifactInfo:
    return ArtifactInfo(
        name=ref.name or input_name,
        uri=ref.uri,
        schema_title=ref.schema_title or "system.Artifact",
        schema_version=ref.schema_version,
        metadata=from_struct(ref.metadata),
        artifact_id=ref.artifact_id,
    )


def result_from_outcome(
    dispatch: tasks_pb2.TaskDispatch, outcome: AttemptOutcome, *, log_uri: str
) -> tasks_pb2.TaskResult:
    """The `TaskResult` to report for an attempt of `dispatch`."""
    result = tasks_pb2.TaskResult(
        run_id=dispatch.run_id,
        task_id=dispatch.task_id,
        attempt=dispatch.attempt,
        state=_STATES[outcome.state],
        log_uri=log_uri,
        exit_code=outcome.exit_code or 0,
        time=to_timestamp(utc_now()),
        pod_name=outcome.pod_name,
    )
    if outcome.state is not AttemptState.SUCCEEDED:
        result.error.CopyFrom(common_pb2.Status(code=outcome.error_code, message=outcome.error_message))
    for name, value in outcome.outputs.parameters.items():
        result.output_parameters[name].CopyFrom(to_value(value))
    for name, artifacts in outcome.outputs.artifacts.items():
        result.output_artifacts[name].artifacts.extend(
            tasks_pb2.ArtifactRef(
                artifact_id=artifact.artifact_id,
                name=artifact.name,
                uri=artifact.uri,
                schema_title=artifact.schema_title,
                schema_version=artifact.schema_version,
                metadata=to_struct(artifact.metadata),
            )
            for artifact in artifacts
        )
    return result

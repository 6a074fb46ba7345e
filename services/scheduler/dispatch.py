"""Turn an engine `Launch` into the `TaskDispatch` message an executor runs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from sluice.v1 import tasks_pb2

from services.core.pipeline.model import JsonValue, Pipeline
from services.core.pipeline.values import parse_cpu, parse_memory
from services.core.protovalues import to_struct, to_value, values_map
from services.core.store.records import ArtifactRef, RunRecord, TaskRecord
from services.scheduler.engine.plan import Launch
from services.scheduler.engine.platform import PLATFORM_VALUES, with_platform_values


def pipeline_root_for(run: RunRecord, pipeline: Pipeline, default_root: str) -> str:
    """Run's runtime_config.pipeline_root → the IR's defaultPipelineRoot → the server's."""
    return (run.pipeline_root or pipeline.default_pipeline_root or default_root).rstrip("/")


def output_uri(*, root: str, pipeline: Pipeline, run: RunRecord, launch: Launch, key: str) -> str:
    """`<root>/<pipeline>/<run>/<task>/<task id>-<attempt>/<artifact>` — the task id keeps loop
    iterations apart, the attempt keeps a retry from reading a failed attempt's leftovers."""
    task = launch.task
    return f"{root}/{pipeline.name}/{run.run_id}/{task.name}/{task.task_id[:12]}-{task.attempt}/{key}"


_INPUT_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


def _resolve_text(text: str, parameters: dict[str, JsonValue]) -> str:
    """Resources may be set from pipeline parameters: substitute the task's input values."""
    return _INPUT_PLACEHOLDER.sub(lambda match: str(parameters.get(match.group(1), "")), text)


def _cpu(value: float | str | None, parameters: dict[str, JsonValue]) -> float:
    if isinstance(value, str):
        text = _resolve_text(value, parameters)
        return parse_cpu(text) if text else 0.0
    return value or 0.0


def _memory(value: float | str | None, parameters: dict[str, JsonValue]) -> float:
    if isinstance(value, str):
        text = _resolve_text(value, parameters)
        return parse_memory(text) if text else 0.0
    return value or 0.0


def _count(value: int | str | None, parameters: dict[str, JsonValue]) -> int:
    if isinstance(value, str):
        text = _resolve_text(value, parameters)
        return int(text) if text else 0
    return value or 0


def timeout_of(platform: Mapping[str, JsonValue] | None) -> float:
    """The task's time limit in seconds (0: none): `activeDeadlineSeconds` of its Kubernetes
    executor config, which kfp-kubernetes' `set_timeout` writes (an int64, so JSON text)."""
    value = (platform or {}).get("activeDeadlineSeconds")
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    if isinstance(value, str):
        try:
            return max(float(value), 0.0)
        except ValueError:
            return 0.0
    return 0.0


def _command_part(part: JsonValue) -> str:
    """Structured placeholders in a command travel as JSON text; the executor expands them."""
    return part if isinstance(part, str) else json.dumps(part)


def _artifact_ref(artifact: ArtifactRef) -> tasks_pb2.ArtifactRef:
    return tasks_pb2.ArtifactRef(
        artifact_id=artifact.artifact_id,
        name=artifact.name,
        uri=artifact.uri,
        schema_title=artifact.schema_title,
        schema_version=artifact.schema_version,
        metadata=to_struct(artifact.metadata),
    )


def build_dispatch(
    *, launch: Launch, run: RunRecord, pipeline: Pipeline, default_root: str
) -> tasks_pb2.TaskDispatch:
    task = launch.task
    component = pipeline.component(launch.spec.component)
    executor = launch.executor
    root = pipeline_root_for(run, pipeline, default_root)
    resources = executor.resources
    message = tasks_pb2.TaskDispatch(
        run_id=run.run_id,
        task_id=task.task_id,
        attempt=task.attempt,
        task_name=task.name,
        pipeline_name=pipeline.name,
        run_display_name=run.display_name,
        pipeline_root=root,
        container=tasks_pb2.ContainerTask(
            image=executor.image,
            command=[_command_part(part) for part in executor.command],
            args=[to_value(arg) for arg in executor.args],
            env=[tasks_pb2.EnvVar(name=name, value=value) for name, value in executor.env.items()],
            resources=tasks_pb2.Resources(
                cpu_limit=_cpu(resources.cpu_limit, task.input_parameters),
                cpu_request=_cpu(resources.cpu_request, task.input_parameters),
                memory_limit=_memory(resources.memory_limit, task.input_parameters),
                memory_request=_memory(resources.memory_request, task.input_parameters),
                accelerator_type=_resolve_text(resources.accelerator_type or "", task.input_parameters),
                accelerator_count=_count(resources.accelerator_count, task.input_parameters),
            ),
        ),
        input_parameters=values_map(task.input_parameters),
        input_parameter_types={name: spec.type.value for name, spec in component.inputs.parameters.items()},
        timeout_seconds=timeout_of(pipeline.platform.get(launch.executor_label)),
    )
    for name, artifacts in task.input_artifacts.items():
        message.input_artifacts[name].artifacts.extend(_artifact_ref(a) for a in artifacts)
    for name, spec in component.outputs.parameters.items():
        message.output_parameters[name].parameter_type = spec.type.value
    for name, artifact_spec in component.outputs.artifacts.items():
        output = message.output_artifacts[name]
        output.schema_title = artifact_spec.schema_title
        output.schema_version = artifact_spec.schema_version
        output.uri = output_uri(root=root, pipeline=pipeline, run=run, launch=launch, key=name)
    platform = pipeline.platform.get(launch.executor_label)
    if platform:
        message.platform.CopyFrom(to_struct(platform_config(task, platform)))
    return message


def platform_config(task: TaskRecord, config: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """The task's Kubernetes config with every parameter spec that names a pipeline channel
    replaced by `{"runtimeValue": {"constant": value}}`, from the values the engine resolved
    in the task's scope (see `engine.platform`). A spec without a value stays as it is: the
    executor then looks it up among the task's inputs, or fails the task naming it."""
    values = task.scheduling.get(PLATFORM_VALUES)
    return with_platform_values(config, values if isinstance(values, dict) else {})

"""Test helpers: compile a component with the real `kfp` compiler and dispatch it by hand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format, struct_pb2
from kfp import compiler
from sluice.v1 import tasks_pb2


@dataclass(frozen=True)
class CompiledComponent:
    """The parts of a compiled component the executor needs."""

    container: dict[str, Any]
    input_types: dict[str, str]
    output_parameter_types: dict[str, str]
    output_artifact_types: dict[str, dict[str, str]]


def compile_component(component: Any, tmp_path: Path) -> CompiledComponent:
    """Compile one component to IR YAML with `kfp.compiler` and pick its single executor."""
    package = tmp_path / f"{component.name}.yaml"
    compiler.Compiler().compile(component, str(package))
    spec = next(yaml.safe_load_all(package.read_text()))
    (executor,) = spec["deploymentSpec"]["executors"].values()
    (definition,) = spec["components"].values()
    inputs = definition.get("inputDefinitions", {})
    outputs = definition.get("outputDefinitions", {})
    return CompiledComponent(
        container=executor["container"],
        input_types={
            name: parameter["parameterType"] for name, parameter in inputs.get("parameters", {}).items()
        },
        output_parameter_types={
            name: parameter["parameterType"] for name, parameter in outputs.get("parameters", {}).items()
        },
        output_artifact_types={
            name: artifact["artifactType"] for name, artifact in outputs.get("artifacts", {}).items()
        },
    )


def to_value(value: Any) -> struct_pb2.Value:
    return json_format.ParseDict(value, struct_pb2.Value())


def make_dispatch(
    compiled: CompiledComponent,
    *,
    parameters: dict[str, Any] | None = None,
    input_artifacts: dict[str, list[tasks_pb2.ArtifactRef]] | None = None,
    output_uris: dict[str, str] | None = None,
    task_id: str = "task-1",
    timeout_seconds: float = 0,
) -> tasks_pb2.TaskDispatch:
    """The dispatch a scheduler would send for `compiled` with these inputs."""
    container = compiled.container
    dispatch = tasks_pb2.TaskDispatch(
        run_id="run-1",
        task_id=task_id,
        attempt=1,
        task_name="the-task",
        pipeline_name="the-pipeline",
        run_display_name="the run",
        pipeline_root="file:///pipeline-root",
        timeout_seconds=timeout_seconds,
        container=tasks_pb2.ContainerTask(
            image=container["image"],
            command=container.get("command", []),
            args=[to_value(arg) for arg in container.get("args", [])],
            env=[tasks_pb2.EnvVar(name=e["name"], value=e["value"]) for e in container.get("env", [])],
        ),
    )
    for name, value in (parameters or {}).items():
        dispatch.input_parameters[name].CopyFrom(to_value(value))
        dispatch.input_parameter_types[name] = compiled.input_types[name]
    for name, refs in (input_artifacts or {}).items():
        dispatch.input_artifacts[name].artifacts.extend(refs)
    for name, type_name in compiled.output_parameter_types.items():
        dispatch.output_parameters[name].parameter_type = type_name
    for name, artifact_type in compiled.output_artifact_types.items():
        dispatch.output_artifacts[name].CopyFrom(
            tasks_pb2.OutputArtifactSpec(
                schema_title=artifact_type["schemaTitle"],
                schema_version=artifact_type.get("schemaVersion", ""),
                uri=(output_uris or {})[name],
            )
        )
    return dispatch

"""The KFP executor contract: building the ExecutorInput, reading the ExecutorOutput (pure).

ExecutorInput (what `{{$}}` expands to)::

    {"inputs": {"parameterValues": {…}, "artifacts": {n: {"artifacts": [{name, uri, type, metadata}]}}},
     "outputs": {"parameters": {n: {"outputFile": path}}, "artifacts": {n: {"artifacts": [...]}},
                 "outputFile": path}}

The task writes an ExecutorOutput JSON to `outputs.outputFile` (`{"parameterValues": {…},
"artifacts": {n: {"artifacts": [{name, uri, metadata}]}}}`); values there win, and an
output parameter missing there is read from its own `outputFile`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue
from services.executor.parameters import coerce, parse_output_text
from services.executor.placeholders import expand_parameter_references
from services.executor.task import ArtifactInfo, TaskOutputs, TaskSpec

EXECUTOR_OUTPUT_FILE = "executor_output.json"
PARAMETERS_DIR = "parameters"


@dataclass(frozen=True)
class RawOutputs:
    """The text a task left behind, before parsing."""

    executor_output: str | None
    """The ExecutorOutput file's text, None when the task wrote none."""
    parameter_files: Mapping[str, str]
    """The text of each output parameter file the task wrote, by parameter name."""


def output_parameter_file(output_dir: PurePath, name: str) -> PurePath:
    """The file a task writes output parameter `name` to."""
    filename = quote(name, safe="")
    return output_dir / PARAMETERS_DIR / (f"_{filename}" if filename in (".", "..") else filename)


def build_executor_input(
    task: TaskSpec, *, local_uris: Mapping[str, str], output_dir: PurePath
) -> dict[str, Any]:
    """The ExecutorInput for `task`.

    `local_uris` maps every artifact URI of the task to the local path the task must see
    as that artifact's `uri`; `output_dir` holds the output files. Raises InvalidArgument
    when an input parameter cannot be coerced to its declared type.
    """
    values = {
        name: coerce(value, task.input_parameter_types.get(name), name=name)
        for name, value in task.input_parameters.items()
        if value is not None
    }
    return {
        "inputs": {
            "parameterValues": expand_parameter_references(values),
            "artifacts": {
                name: {"artifacts": [_runtime_artifact(artifact, local_uris) for artifact in artifacts]}
                for name, artifacts in task.input_artifacts.items()
            },
        },
        "outputs": {
            "parameters": {
                name: {"outputFile": str(output_parameter_file(output_dir, name))}
                for name in task.output_parameters
            },
            "artifacts": {
                name: {
                    "artifacts": [
                        _runtime_artifact(
                            ArtifactInfo(
                                name=name,
                                uri=spec.uri,
                                schema_title=spec.schema_title,
                                schema_version=spec.schema_version,
                                metadata=spec.metadata,
                            ),
                            local_uris,
                        )
                    ]
                }
                for name, spec in task.output_artifacts.items()
            },
            "outputFile": str(output_dir / EXECUTOR_OUTPUT_FILE),
        },
    }


def _runtime_artifact(artifact: ArtifactInfo, local_uris: Mapping[str, str]) -> dict[str, Any]:
    artifact_type = {"schemaTitle": artifact.schema_title}
    if artifact.schema_version:
        artifact_type["schemaVersion"] = artifact.schema_version
    return {
        "name": artifact.name,
        "uri": local_uris.get(artifact.uri, artifact.uri),
        "type": artifact_type,
        "metadata": dict(artifact.metadata),
    }


def parse_outputs(task: TaskSpec, raw: RawOutputs) -> TaskOutputs:
    """The task's outputs, coerced to their declared types, artifact metadata merged.

    Raises InvalidArgument when the ExecutorOutput is malformed, an output parameter is
    missing, or a value does not fit its declared type.
    """
    executor_output = _load_executor_output(raw.executor_output)
    written: Mapping[str, Any] = executor_output.get("parameterValues") or {}
    parameters: dict[str, JsonValue] = {}
    missing = []
    for name, declared in task.output_parameters.items():
        if name in written:
            parameters[name] = coerce(written[name], declared, name=name)
        elif name in raw.parameter_files:
            parameters[name] = parse_output_text(raw.parameter_files[name], declared, name=name)
        else:
            missing.append(name)
    if missing:
        raise InvalidArgument(
            "the task did not produce output parameter(s) " + ", ".join(repr(name) for name in missing),
            field=missing[0],
        )
    reported: Mapping[str, Any] = executor_output.get("artifacts") or {}
    artifacts = {
        name: (
            ArtifactInfo(
                name=name,
                uri=spec.uri,
                schema_title=spec.schema_title,
                schema_version=spec.schema_version,
                metadata={**spec.metadata, **_reported_metadata(reported, name)},
            ),
        )
        for name, spec in task.output_artifacts.items()
    }
    return TaskOutputs(parameters=parameters, artifacts=artifacts)


def _load_executor_output(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"the task wrote an ExecutorOutput that is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("the task wrote an ExecutorOutput that is not a JSON object")
    return parsed


def _reported_metadata(reported: Mapping[str, Any], name: str) -> dict[str, JsonValue]:
    entry = reported.get(name)
    artifacts = entry.get("artifacts") if isinstance(entry, dict) else None
    if not artifacts or not isinstance(artifacts[0], dict):
        return {}
    metadata = artifacts[0].get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidArgument(f"output artifact {name!r}: metadata must be a JSON object", field=name)
    return metadata

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import PurePath
from typing import Any

import pytest

from services.core.errors import InvalidArgument
from services.core.pipeline.model import ParameterType
from services.executor.executor_input import (
    RawOutputs,
    build_executor_input,
    output_parameter_file,
    parse_outputs,
)
from services.executor.task import ArtifactInfo, OutputArtifactSpec, TaskOutputs, TaskSpec

T = ParameterType
OUT = PurePath("/attempt/outputs")


BASE_TASK = TaskSpec(
    run_id="run-1",
    task_id="task-1",
    attempt=1,
    task_name="train",
    pipeline_name="p",
    run_display_name="r",
    pipeline_root="s3://b/root",
    image="python:3.11",
    command=("python3",),
    args=(),
)


def make_task(**overrides: Any) -> TaskSpec:
    return replace(BASE_TASK, **overrides)


def test_build_executor_input_shape() -> None:
    task = make_task(
        input_parameters={"n": 3.0, "xs": [1.0, 4.0], "f": 2.0, "opt": None, "untyped": 5.0},
        input_parameter_types={"n": T.NUMBER_INTEGER, "xs": T.LIST, "f": T.NUMBER_DOUBLE},
        input_artifacts={
            "data": (
                ArtifactInfo(
                    name="data",
                    uri="s3://b/data",
                    schema_title="system.Dataset",
                    schema_version="0.0.1",
                    metadata={"rows": 2},
                ),
            ),
            "many": (ArtifactInfo(name="", uri="file:///a"), ArtifactInfo(name="", uri="file:///b")),
        },
        output_parameters={"score": T.NUMBER_DOUBLE},
        output_artifacts={"model": OutputArtifactSpec(uri="s3://b/root/model", schema_title="system.Model")},
    )

    executor_input = build_executor_input(
        task,
        local_uris={
            "s3://b/data": "/attempt/staging/s3/b/data",
            "file:///a": "/a",
            "file:///b": "/b",
            "s3://b/root/model": "/attempt/staging/s3/b/root/model",
        },
        output_dir=OUT,
    )

    assert executor_input == {
        "inputs": {
            "parameterValues": {"n": 3, "xs": [1, 4], "f": 2.0, "untyped": 5},
            "artifacts": {
                "data": {
                    "artifacts": [
                        {
                            "name": "data",
                            "uri": "/attempt/staging/s3/b/data",
                            "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
                            "metadata": {"rows": 2},
                        }
                    ]
                },
                "many": {
                    "artifacts": [
                        {"name": "", "uri": "/a", "type": {"schemaTitle": "system.Artifact"}, "metadata": {}},
                        {"name": "", "uri": "/b", "type": {"schemaTitle": "system.Artifact"}, "metadata": {}},
                    ]
                },
            },
        },
        "outputs": {
            "parameters": {"score": {"outputFile": "/attempt/outputs/parameters/score"}},
            "artifacts": {
                "model": {
                    "artifacts": [
                        {
                            "name": "model",
                            "uri": "/attempt/staging/s3/b/root/model",
                            "type": {"schemaTitle": "system.Model"},
                            "metadata": {},
                        }
                    ]
                }
            },
            "outputFile": "/attempt/outputs/executor_output.json",
        },
    }
    # What `{{$}}` hands to the task: integers stay integers, doubles stay doubles.
    assert json.dumps(executor_input["inputs"]["parameterValues"]) == (
        '{"n": 3, "xs": [1, 4], "f": 2.0, "untyped": 5}'
    )


def test_build_executor_input_expands_f_string_references() -> None:
    task = make_task(
        input_parameters={
            "pipelinechannel--up-Output": "x",
            "s": "a-{{$.inputs.parameters['pipelinechannel--up-Output']}}",
        },
        input_parameter_types={"s": T.STRING},
    )

    values = build_executor_input(task, local_uris={}, output_dir=OUT)["inputs"]["parameterValues"]

    assert values["s"] == "a-x"


def test_build_executor_input_rejects_values_of_the_wrong_type() -> None:
    task = make_task(input_parameters={"n": 2.5}, input_parameter_types={"n": T.NUMBER_INTEGER})

    with pytest.raises(InvalidArgument, match=r"^parameter 'n': 2.5 is not a valid NUMBER_INTEGER"):
        build_executor_input(task, local_uris={}, output_dir=OUT)


@pytest.mark.parametrize(
    ("name", "filename"), [("score", "score"), ("a/b c", "a%2Fb%20c"), ("..", "_.."), (".", "_.")]
)
def test_output_parameter_files_stay_inside_the_output_dir(name: str, filename: str) -> None:
    assert output_parameter_file(OUT, name) == OUT / "parameters" / filename


OUTPUT_TASK = make_task(
    output_parameters={
        "i": T.NUMBER_INTEGER,
        "f": T.NUMBER_DOUBLE,
        "s": T.STRING,
        "b": T.BOOLEAN,
        "l": T.LIST,
        "d": T.STRUCT,
    },
    output_artifacts={
        "metrics": OutputArtifactSpec(
            uri="s3://b/root/metrics",
            schema_title="system.Metrics",
            schema_version="0.0.1",
            metadata={"display": "m", "accuracy": 0.1},
        ),
        "model": OutputArtifactSpec(uri="file:///root/model", schema_title="system.Model"),
    },
)


def test_parse_outputs_from_executor_output_and_files() -> None:
    executor_output = {
        "parameterValues": {"i": 5, "f": 1, "l": [1.0, 2.5], "d": {"a": 1.0}},
        "artifacts": {
            "metrics": {"artifacts": [{"name": "metrics", "uri": "/x", "metadata": {"accuracy": 0.9}}]},
        },
    }
    raw = RawOutputs(
        executor_output=json.dumps(executor_output),
        parameter_files={"s": "text\n", "b": "True", "i": "999"},
    )

    outputs = parse_outputs(OUTPUT_TASK, raw)

    assert outputs == TaskOutputs(
        parameters={"i": 5, "f": 1.0, "s": "text\n", "b": True, "l": [1, 2.5], "d": {"a": 1}},
        artifacts={
            "metrics": (
                ArtifactInfo(
                    name="metrics",
                    uri="s3://b/root/metrics",
                    schema_title="system.Metrics",
                    schema_version="0.0.1",
                    metadata={"display": "m", "accuracy": 0.9},
                ),
            ),
            "model": (ArtifactInfo(name="model", uri="file:///root/model", schema_title="system.Model"),),
        },
    )
    assert type(outputs.parameters["f"]) is float


def test_parse_outputs_without_an_executor_output() -> None:
    task = make_task(output_parameters={"out": T.LIST})

    outputs = parse_outputs(task, RawOutputs(executor_output=None, parameter_files={"out": "[1, 2]"}))

    assert outputs.parameters == {"out": [1, 2]}


def test_missing_output_parameters_are_named() -> None:
    raw = RawOutputs(executor_output='{"parameterValues": {"i": 1, "f": 2}}', parameter_files={"s": "x"})

    with pytest.raises(InvalidArgument) as caught:
        parse_outputs(OUTPUT_TASK, raw)

    assert caught.value.message == "the task did not produce output parameter(s) 'b', 'l', 'd'"
    assert caught.value.field == "b"


@pytest.mark.parametrize(
    ("executor_output", "message"),
    [
        ("{not json", "the task wrote an ExecutorOutput that is not JSON: "),
        ("[1]", "the task wrote an ExecutorOutput that is not a JSON object"),
        (
            '{"parameterValues": {"n": "many"}}',
            "parameter 'n': 'many' is not a valid NUMBER_INTEGER: expected an integer",
        ),
        (
            '{"artifacts": {"model": {"artifacts": [{"metadata": [1]}]}}}',
            "output artifact 'model': metadata must be a JSON object",
        ),
    ],
)
def test_malformed_outputs_are_rejected(executor_output: str, message: str) -> None:
    task = make_task(
        output_parameters={"n": T.NUMBER_INTEGER} if "parameterValues" in executor_output else {},
        output_artifacts={"model": OutputArtifactSpec(uri="file:///m")},
    )

    with pytest.raises(InvalidArgument) as caught:
        parse_outputs(task, RawOutputs(executor_output=executor_output, parameter_files={}))

    assert caught.value.message.startswith(message)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.core.errors import InvalidArgument
from services.executor.placeholders import (
    RuntimeNames,
    expand_parameter_references,
    kfp_local_path,
    resolve_command,
)
from services.executor.task import Arg
from tests.services.executor.components import greet
from tests.services.executor.kfp_ir import compile_component

NAMES = RuntimeNames(
    pipeline_job_name="my run",
    pipeline_job_resource_name="run-42",
    pipeline_job_uuid="run-42",
    pipeline_task_name="train",
    pipeline_task_uuid="task-7",
    pipeline_root="s3://bucket/root",
)

EXECUTOR_INPUT: dict[str, Any] = {
    "inputs": {
        "parameterValues": {
            "text": "hello world",
            "n": 3,
            "x": 2.5,
            "flag": False,
            "xs": [1, 4],
            "cfg": {"lr": 0.1, "layers": [8, 8]},
        },
        "artifacts": {
            "data": {
                "artifacts": [
                    {
                        "name": "data",
                        "uri": "/work/staging/s3/b/data.csv",
                        "type": {"schemaTitle": "system.Dataset"},
                        "metadata": {"rows": 10, "source": "db"},
                    }
                ]
            },
            "empty": {"artifacts": []},
        },
    },
    "outputs": {
        "parameters": {"score": {"outputFile": "/work/outputs/parameters/score"}},
        "artifacts": {
            "model": {
                "artifacts": [
                    {
                        "name": "model",
                        "uri": "/work/root/model",
                        "type": {"schemaTitle": "system.Model"},
                        "metadata": {},
                    }
                ]
            }
        },
        "outputFile": "/work/outputs/executor_output.json",
    },
}


def resolve(*elements: Arg) -> list[str]:
    return resolve_command(list(elements), executor_input=EXECUTOR_INPUT, names=NAMES)


def test_executor_input_placeholder_is_the_whole_json() -> None:
    (resolved,) = resolve("{{$}}")

    assert json.loads(resolved) == EXECUTOR_INPUT


@pytest.mark.parametrize(
    ("placeholder", "value"),
    [
        ("{{$.inputs.parameters['text']}}", "hello world"),
        ("{{$.inputs.parameters['n']}}", "3"),
        ("{{$.inputs.parameters['x']}}", "2.5"),
        ("{{$.inputs.parameters['flag']}}", "false"),
        ("{{$.inputs.parameters['xs']}}", "[1, 4]"),
        ("{{$.inputs.parameters['cfg']}}", '{"lr": 0.1, "layers": [8, 8]}'),
        ('{{$.inputs.parameters["text"]}}', "hello world"),
        ("{{$.inputs.artifacts['data'].uri}}", "/work/staging/s3/b/data.csv"),
        ("{{$.inputs.artifacts['data'].path}}", "/work/staging/s3/b/data.csv"),
        ("{{$.inputs.artifacts['data'].metadata}}", '{"rows": 10, "source": "db"}'),
        ("{{$.inputs.artifacts['data'].metadata['rows']}}", "10"),
        ("{{$.inputs.artifacts['data'].metadata['source']}}", "db"),
        ("{{$.outputs.artifacts['model'].uri}}", "/work/root/model"),
        ("{{$.outputs.artifacts['model'].path}}", "/work/root/model"),
        ("{{$.outputs.parameters['score'].output_file}}", "/work/outputs/parameters/score"),
        ("{{$.outputs.output_file}}", "/work/outputs/executor_output.json"),
        ("{{$.outputMetadataUri}}", "/work/outputs/executor_output.json"),
        ("{{$.pipeline_job_name}}", "my run"),
        ("{{$.pipeline_job_resource_name}}", "run-42"),
        ("{{$.pipeline_job_uuid}}", "run-42"),
        ("{{$.pipeline_task_name}}", "train"),
        ("{{$.pipeline_task_uuid}}", "task-7"),
        ("{{$.pipeline_root}}", "s3://bucket/root"),
    ],
)
def test_each_placeholder(placeholder: str, value: str) -> None:
    assert resolve(placeholder) == [value]


def test_placeholders_embedded_in_longer_strings() -> None:
    resolved = resolve(
        "--n={{$.inputs.parameters['n']}}/{{$.pipeline_task_name}}:{{$.inputs.parameters['xs']}}"
    )

    assert resolved == ["--n=3/train:[1, 4]"]


def test_substituted_values_are_not_scanned_again() -> None:
    executor_input = {
        "inputs": {"parameterValues": {"tricky": "{{$.pipeline_root}} {{$.nope}}"}},
        "outputs": {"outputFile": "/o"},
    }
    resolved = resolve_command(
        ["{{$.inputs.parameters['tricky']}}"], executor_input=executor_input, names=NAMES
    )

    assert resolved == ["{{$.pipeline_root}} {{$.nope}}"]


def test_path_uses_kfp_mounts_for_remote_uris() -> None:
    executor_input = {
        "inputs": {"artifacts": {"d": {"artifacts": [{"uri": "gs://bucket/key/x"}]}}},
        "outputs": {"outputFile": "/o"},
    }

    assert resolve_command(
        ["{{$.inputs.artifacts['d'].path}}", "{{$.inputs.artifacts['d'].uri}}"],
        executor_input=executor_input,
        names=NAMES,
    ) == ["/gcs/bucket/key/x", "gs://bucket/key/x"]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("gs://b/k", "/gcs/b/k"),
        ("minio://b/k", "/minio/b/k"),
        ("s3://b/k", "/s3/b/k"),
        ("file:///tmp/a%20b", "/tmp/a b"),
        ("/already/local", "/already/local"),
    ],
)
def test_kfp_local_path(uri: str, path: str) -> None:
    assert kfp_local_path(uri) == path


def test_concat_as_object_and_as_json_string() -> None:
    concat: dict[str, Any] = {
        "Concat": ["--text=", "{{$.inputs.parameters['text']}}", "-", "{{$.inputs.parameters['n']}}"]
    }

    assert resolve(concat) == ["--text=hello world-3"]
    assert resolve(json.dumps(concat)) == ["--text=hello world-3"]


@pytest.mark.parametrize("encode", [False, True])
def test_if_present_takes_then_when_the_input_is_present(encode: bool) -> None:
    present: dict[str, Any] = {
        "IfPresent": {"InputName": "n", "Then": ["--n", "{{$.inputs.parameters['n']}}"], "Else": ["--no-n"]}
    }
    artifact: dict[str, Any] = {"IfPresent": {"InputName": "data", "Then": ["--data"]}}

    assert resolve(json.dumps(present) if encode else present, "x") == ["--n", "3", "x"]
    assert resolve(json.dumps(artifact) if encode else artifact) == ["--data"]


@pytest.mark.parametrize("encode", [False, True])
def test_if_present_takes_else_when_the_input_is_absent(encode: bool) -> None:
    absent: dict[str, Any] = {"IfPresent": {"InputName": "missing", "Then": ["--m", "1"], "Else": ["--no-m"]}}
    no_else: dict[str, Any] = {"IfPresent": {"InputName": "missing", "Then": ["--m"]}}
    empty_artifact: dict[str, Any] = {"IfPresent": {"InputName": "empty", "Then": "--e", "Else": "--no-e"}}

    assert resolve(json.dumps(absent) if encode else absent, "x") == ["--no-m", "x"]
    assert resolve(json.dumps(no_else) if encode else no_else, "x") == ["x"]
    assert resolve(json.dumps(empty_artifact) if encode else empty_artifact) == ["--no-e"]


def test_nested_structured_placeholders() -> None:
    nested: dict[str, Any] = {
        "IfPresent": {
            "InputName": "text",
            "Then": [
                {
                    "Concat": [
                        "--t=",
                        "{{$.inputs.parameters['text']}}",
                        {"IfPresent": {"InputName": "missing", "Then": ["!"], "Else": ["?"]}},
                    ]
                },
                {"IfPresent": {"InputName": "flag", "Then": ["--flag={{$.inputs.parameters['flag']}}"]}},
            ],
        }
    }

    assert resolve(nested) == ["--t=hello world?", "--flag=false"]
    assert resolve(json.dumps(nested)) == ["--t=hello world?", "--flag=false"]


def test_strings_that_merely_look_like_json_stay_strings() -> None:
    assert resolve('{"a": 1}', "{not json", '{"Concat": "x", "other": 1}') == [
        '{"a": 1}',
        "{not json",
        '{"Concat": "x", "other": 1}',
    ]


def test_structured_placeholders_from_the_real_kfp_compiler(tmp_path: Path) -> None:
    compiled = compile_component(greet, tmp_path)
    args = compiled.container["args"]
    assert all(isinstance(arg, str) for arg in args)
    assert json.loads(args[0]) == {
        "Concat": ["hello ", "{{$.inputs.parameters['name']}}", " x", "{{$.inputs.parameters['count']}}"]
    }

    executor_input = {
        "inputs": {"parameterValues": {"name": "ann", "count": 2}},
        "outputs": {"parameters": {"greeting": {"outputFile": "/o/greeting"}}, "outputFile": "/o/out.json"},
    }
    resolved = resolve_command(args, executor_input=executor_input, names=NAMES)

    assert resolved == ["hello ann x2", "/o/greeting", ".", "train"]


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            "{{$.inputs.parameters['n'].json_escape[0]}}",
            "unknown placeholder '{{$.inputs.parameters['n'].json_escape[0]}}'",
        ),
        ("a {{$.workspace_path}} b", "unknown placeholder '{{$.workspace_path}}'"),
        ("{{$.inputs.artifacts['data'].size}}", "unknown placeholder '{{$.inputs.artifacts['data'].size}}'"),
        ("{{$.outputs.parameters['score']}}", "unknown placeholder '{{$.outputs.parameters['score']}}'"),
        (
            "{{$.inputs.parameters['absent']}}",
            "placeholder '{{$.inputs.parameters['absent']}}': input parameter 'absent' was not provided",
        ),
        (
            "{{$.outputs.parameters['nope'].output_file}}",
            "placeholder '{{$.outputs.parameters['nope'].output_file}}': no 'nope' in this task",
        ),
        (
            "{{$.inputs.artifacts['empty'].uri}}",
            "placeholder '{{$.inputs.artifacts['empty'].uri}}': artifact 'empty' was not provided",
        ),
        ({"Unknown": []}, 'unknown structured placeholder {"Unknown": []}'),
        ({"Concat": "x"}, 'Concat takes a list, got "x"'),
        ({"IfPresent": {"Then": ["x"]}}, 'IfPresent needs an InputName, got {"Then": ["x"]}'),
    ],
)
def test_errors_name_the_placeholder(element: Arg, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve(element)

    assert caught.value.message == message


def test_parameter_references_inside_values_are_expanded() -> None:
    values = expand_parameter_references(
        {
            "pipelinechannel--up-Output": "x",
            "n": 2,
            "s": "a-{{$.inputs.parameters['pipelinechannel--up-Output']}}-{{$.inputs.parameters['n']}}",
            "other": "{{$.inputs.parameters['unknown']}}",
            "xs": [1],
        }
    )

    assert values["s"] == "a-x-2"
    assert values["other"] == "{{$.inputs.parameters['unknown']}}"
    assert values["xs"] == [1]

"""The task runtime, in process: inputs converted by type, outputs and metadata written as KFP's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kfp import dsl as kfp_dsl
from sluice.runtime import executor
from sluice.runtime.executor import (
    Artifact,
    ClassificationMetrics,
    Dataset,
    Metrics,
    Model,
    PipelineTaskFinalStatus,
    execute,
)


def executor_input(
    tmp_path: Path,
    *,
    parameters: dict[str, Any] | None = None,
    artifacts: dict[str, list[dict[str, Any]]] | None = None,
    outputs: dict[str, str] | None = None,
    output_parameters: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "inputs": {
            "parameterValues": parameters or {},
            "artifacts": {name: {"artifacts": items} for name, items in (artifacts or {}).items()},
        },
        "outputs": {
            "parameters": {
                name: {"outputFile": str(tmp_path / "parameters" / name)} for name in output_parameters
            },
            "artifacts": {
                name: {
                    "artifacts": [{"name": name, "uri": uri, "type": {"schemaTitle": title}, "metadata": {}}]
                }
                for name, (title, uri) in (
                    (name, value.split("|")) for name, value in (outputs or {}).items()
                )
            },
            "outputFile": str(tmp_path / "out" / "executor_output.json"),
        },
    }


def written(tmp_path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((tmp_path / "out" / "executor_output.json").read_text())
    return result


def test_parameters_are_converted_to_their_declared_types(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def func(**kwargs: Any) -> None:
        seen.update(kwargs)

    interface = {
        "inputs": {
            "i": {"kind": "parameter", "type": "NUMBER_INTEGER"},
            "f": {"kind": "parameter", "type": "NUMBER_DOUBLE"},
            "b": {"kind": "parameter", "type": "BOOLEAN"},
            "l": {"kind": "parameter", "type": "LIST"},
            "d": {"kind": "parameter", "type": "STRUCT"},
            "s": {"kind": "parameter", "type": "STRING"},
            "missing_optional": {"kind": "parameter", "type": "STRING", "optional": True},
            "missing_with_default": {"kind": "parameter", "type": "STRING"},
        },
        "outputs": [],
        "returns": "none",
    }
    parameters = {"i": 3.0, "f": 2, "b": "true", "l": "[1, 2]", "d": {"k": [1]}, "s": "text"}

    assert execute(func, executor_input(tmp_path, parameters=parameters), interface) == {}

    assert seen == {
        "i": 3,
        "f": 2.0,
        "b": True,
        "l": [1, 2],
        "d": {"k": [1]},
        "s": "text",
        "missing_optional": None,
    }
    assert type(seen["i"]) is int
    assert type(seen["f"]) is float
    assert written(tmp_path) == {}


class Outputs(NamedTuple):
    total: int
    names: list[str]


@pytest.mark.parametrize("result", [Outputs(3, ["a"]), (3, ("a",))])
def test_named_tuple_outputs(tmp_path: Path, result: tuple[Any, ...]) -> None:
    interface = {
        "inputs": {},
        "outputs": [
            {"name": "total", "kind": "parameter", "type": "NUMBER_INTEGER"},
            {"name": "names", "kind": "parameter", "type": "LIST"},
        ],
        "returns": "tuple",
    }

    execute(lambda: result, executor_input(tmp_path), interface)

    assert written(tmp_path) == {"parameterValues": {"total": 3, "names": ["a"]}}


@pytest.mark.parametrize(
    ("declared", "value", "message"),
    [
        ("NUMBER_INTEGER", "3", "returned str '3' for output 'Output', declared int"),
        ("NUMBER_INTEGER", True, "returned bool True for output 'Output', declared int"),
        ("STRUCT", [1], "declared dict"),
    ],
)
def test_a_returned_value_of_the_wrong_type_fails(
    tmp_path: Path, declared: str, value: Any, message: str
) -> None:
    interface = {
        "inputs": {},
        "outputs": [{"name": "Output", "kind": "parameter", "type": declared}],
        "returns": "value",
    }

    with pytest.raises(TypeError, match=message):
        execute(lambda: value, executor_input(tmp_path), interface)


def test_a_float_output_takes_an_int(tmp_path: Path) -> None:
    interface = {
        "inputs": {},
        "outputs": [{"name": "Output", "kind": "parameter", "type": "NUMBER_DOUBLE"}],
        "returns": "value",
    }

    execute(lambda: 2, executor_input(tmp_path), interface)

    assert written(tmp_path) == {"parameterValues": {"Output": 2}}


def test_artifacts_in_and_out(tmp_path: Path) -> None:
    source = tmp_path / "in" / "data.txt"
    source.parent.mkdir()
    source.write_text("hello")
    model_dir = tmp_path / "outputs" / "model"
    seen: dict[str, Any] = {}

    def func(
        data: Dataset, many: list[Artifact], data_path: str, model: Model, metrics: Metrics, summary: str
    ) -> None:
        seen.update(data=data, many=many, data_path=data_path)
        Path(model.path).write_text(Path(data.path).read_text() + "!")
        model.framework = "none"
        metrics.log_metric("accuracy", 0.75)
        Path(summary).write_text("done")

    interface = {
        "inputs": {
            "data": {"kind": "input_artifact"},
            "many": {"kind": "input_artifact", "list": True},
            "data_path": {"kind": "input_path"},
            "model": {"kind": "output_artifact"},
            "metrics": {"kind": "output_artifact"},
            "summary": {"kind": "output_parameter_path"},
        },
        "outputs": [],
        "returns": "none",
    }
    dataset = {
        "name": "data",
        "uri": str(source),
        "type": {"schemaTitle": "system.Dataset"},
        "metadata": {"rows": 1},
    }
    remote = {"name": "r", "uri": "gs://bucket/key", "type": {"schemaTitle": "custom.Thing"}, "metadata": {}}
    given = executor_input(
        tmp_path,
        artifacts={"data": [dataset], "many": [dataset, remote], "data_path": [dataset]},
        outputs={
            "model": f"system.Model|{model_dir}",
            "metrics": f"system.Metrics|{tmp_path / 'outputs' / 'm'}",
        },
        output_parameters=("summary",),
    )

    execute(func, given, interface)

    assert isinstance(seen["data"], Dataset)
    assert seen["data"].metadata == {"rows": 1}
    assert [type(item) for item in seen["many"]] == [Dataset, Artifact]
    assert seen["many"][1].path == "/gcs/bucket/key"
    assert seen["many"][1].schema_title == "custom.Thing"
    assert seen["data_path"] == str(source)
    assert model_dir.read_text() == "hello!"
    assert (tmp_path / "parameters" / "summary").read_text() == "done"
    assert written(tmp_path) == {
        "artifacts": {
            "model": {
                "artifacts": [{"name": "model", "uri": str(model_dir), "metadata": {"framework": "none"}}]
            },
            "metrics": {
                "artifacts": [
                    {
                        "name": "metrics",
                        "uri": str(tmp_path / "outputs" / "m"),
                        "metadata": {"accuracy": 0.75},
                    }
                ]
            },
        }
    }


def test_missing_artifacts_are_an_empty_list_or_none(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def func(**kwargs: Any) -> None:
        seen.update(kwargs)

    interface = {
        "inputs": {
            "many": {"kind": "input_artifact", "list": True},
            "maybe": {"kind": "input_artifact", "optional": True},
        },
        "outputs": [],
        "returns": "none",
    }

    execute(func, executor_input(tmp_path), interface)

    assert seen == {"many": [], "maybe": None}


def test_a_returned_artifact_or_value_fills_the_output(tmp_path: Path) -> None:
    interface = {"inputs": {}, "outputs": [{"name": "Output", "kind": "artifact"}], "returns": "value"}
    target = tmp_path / "outputs" / "Output"

    execute(lambda: 42, executor_input(tmp_path, outputs={"Output": f"system.Artifact|{target}"}), interface)
    assert target.read_text() == "42"

    execute(
        lambda: Artifact(metadata={"kind": "returned"}),
        executor_input(tmp_path, outputs={"Output": f"system.Artifact|{target}"}),
        interface,
    )
    assert written(tmp_path)["artifacts"]["Output"]["artifacts"] == [
        {"name": "", "uri": str(target), "metadata": {"kind": "returned"}}
    ]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("gs://bucket/a/b", "/gcs/bucket/a/b"),
        ("minio://bucket/a", "/minio/bucket/a"),
        ("s3://bucket/a", "/s3/bucket/a"),
        ("file:///data/a", "/data/a"),
        ("/already/local", "/already/local"),
    ],
)
def test_artifact_paths_follow_kfp(uri: str, path: str) -> None:
    artifact = Artifact(uri=uri)
    kfp_artifact = kfp_dsl.Artifact(uri=uri)

    assert artifact.path == path
    if not uri.startswith("file://"):
        assert artifact.path == kfp_artifact.path
    artifact.path = "/gcs/other/key"
    assert artifact.uri == "gs://other/key"


def test_classification_metrics_write_kfp_metadata() -> None:
    ours, theirs = ClassificationMetrics(), kfp_dsl.ClassificationMetrics()
    for metrics in (ours, theirs):
        metrics.log_confusion_matrix(["cat", "dog"], [[3, 1], [0, 4]])
        metrics.log_roc_curve([0.0, 0.5, 1.0], [0.0, 0.8, 1.0], [1.0, 0.5, 0.0])

    assert ours.metadata == theirs.metadata
    assert ours.metadata["confusionMatrix"] == {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [3, 1]}, {"row": [0, 4]}],
    }
    assert ours.metadata["confidenceMetrics"][1] == {
        "confidenceThreshold": 0.5,
        "recall": 0.8,
        "falsePositiveRate": 0.5,
    }


def test_classification_metrics_cells_and_rows() -> None:
    ours, theirs = ClassificationMetrics(), kfp_dsl.ClassificationMetrics()
    for metrics in (ours, theirs):
        metrics.set_confusion_matrix_categories(["a", "b"])
        metrics.log_confusion_matrix_row("a", [1, 2])
        metrics.log_confusion_matrix_cell("b", "a", 7)
        metrics.log_roc_data_point(0.1, 0.9, 0.3)

    assert ours.metadata == theirs.metadata
    with pytest.raises(ValueError, match="unknown category 'z'"):
        ours.log_confusion_matrix_cell("z", "a", 1)
    with pytest.raises(ValueError, match="same length"):
        ours.log_roc_curve([0.0], [0.0, 1.0], [1.0])


def test_metrics_and_model_follow_kfp() -> None:
    ours, theirs = Metrics(), kfp_dsl.Metrics()
    for metrics in (ours, theirs):
        metrics.log_metric("accuracy", 0.9)
    assert ours.metadata == theirs.metadata == {"accuracy": 0.9}
    model = Model()
    model.framework = "sklearn"
    assert model.metadata == {"framework": "sklearn"}
    assert model.framework == "sklearn"


def test_final_status_is_read_from_its_parameter(tmp_path: Path) -> None:
    seen: list[PipelineTaskFinalStatus] = []
    value = {
        "state": "FAILED",
        "pipelineJobResourceName": "runs/1",
        "pipelineTaskName": "guarded",
        "error": {"code": 2, "message": "boom"},
    }

    def func(status: PipelineTaskFinalStatus) -> None:
        seen.append(status)

    execute(
        func,
        executor_input(tmp_path, parameters={"status": value}),
        {"inputs": {"status": {"kind": "final_status"}}, "outputs": [], "returns": "none"},
    )

    (status,) = seen
    assert (status.state, status.pipeline_job_resource_name, status.pipeline_task_name) == (
        "FAILED",
        "runs/1",
        "guarded",
    )
    assert (status.error_code, status.error_message) == (2, "boom")


def test_main_loads_the_shipped_module_and_runs_it(tmp_path: Path) -> None:
    module = tmp_path / "component.py"
    module.write_text(
        "from sluice_runtime import Dataset\n"
        "def shout(text: str) -> str:\n"
        "    assert Dataset.schema_title == 'system.Dataset'\n"
        "    return text.upper()\n"
    )
    interface = {
        "inputs": {"text": {"kind": "parameter", "type": "STRING"}},
        "outputs": [{"name": "Output", "kind": "parameter", "type": "STRING"}],
        "returns": "value",
    }

    executor.main(
        [
            "--component_module_path",
            str(module),
            "--function_to_execute",
            "shout",
            "--executor_input",
            json.dumps(executor_input(tmp_path, parameters={"text": "hi"})),
            "--interface",
            json.dumps(interface),
        ]
    )

    assert written(tmp_path) == {"parameterValues": {"Output": "HI"}}


def test_main_needs_every_argument() -> None:
    with pytest.raises(SystemExit, match="missing --interface"):
        executor.main(
            ["--component_module_path", "m.py", "--function_to_execute", "f", "--executor_input", "{}"]
        )


def test_importing_the_runtime_costs_only_the_standard_library() -> None:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import sluice.runtime.executor\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout.split()

    assert set(loaded) <= {
        "_json",
        "json",
        "json.decoder",
        "json.encoder",
        "json.scanner",
        "sluice",
        "sluice.runtime",
    } | {"sluice.runtime.executor"}

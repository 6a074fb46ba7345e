"""Compiled Python components run for real: `run_attempt` with the local launcher, as Sluice runs them.

Each component is compiled by Sluice (as a one-task pipeline) and its executor dispatched by
hand; the command runs the embedded task runtime in a subprocess.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from sluice.compiler import compile_pipeline
from sluice.dsl import PythonComponent
from sluice.v1 import common_pb2, tasks_pb2

from services.executor.attempt import run_attempt
from services.executor.launchers.local import LocalLauncher
from services.executor.staging import LocalFileStager
from tests.sdk.runtime.components import describe, explode, read_rows, with_packages, write_rows
from tests.services.executor.kfp_ir import CompiledComponent, make_dispatch


def compiled(component: PythonComponent) -> CompiledComponent:
    spec = compile_pipeline(component)
    (executor,) = spec["deploymentSpec"]["executors"].values()
    (definition,) = spec["components"].values()
    inputs = definition.get("inputDefinitions", {})
    outputs = definition.get("outputDefinitions", {})
    return CompiledComponent(
        container=executor["container"],
        input_types={name: p["parameterType"] for name, p in inputs.get("parameters", {}).items()},
        output_parameter_types={
            name: p["parameterType"] for name, p in outputs.get("parameters", {}).items()
        },
        output_artifact_types={name: a["artifactType"] for name, a in outputs.get("artifacts", {}).items()},
    )


async def run(component: PythonComponent, tmp_path: Path, **kwargs: Any) -> tasks_pb2.TaskResult:
    dispatch = make_dispatch(compiled(component), **kwargs)
    return await run_attempt(
        dispatch,
        launcher=LocalLauncher(grace_seconds=2),
        stager=LocalFileStager(),
        work_root=tmp_path / "work",
    )


def parameters_of(result: tasks_pb2.TaskResult) -> dict[str, Any]:
    return {name: json_format.MessageToDict(value) for name, value in result.output_parameters.items()}


def metadata_of(result: tasks_pb2.TaskResult, name: str) -> dict[str, Any]:
    (artifact,) = result.output_artifacts[name].artifacts
    return json_format.MessageToDict(artifact.metadata)


def log_of(result: tasks_pb2.TaskResult) -> str:
    return Path(result.log_uri.removeprefix("file://")).read_text()


async def test_parameters_of_every_type_and_a_named_tuple(tmp_path: Path) -> None:
    result = await run(
        describe,
        tmp_path,
        parameters={
            "name": "ada",
            "count": 2,
            "ratio": 1.5,
            "flag": True,
            "values": [1, 2, 3],
            "extra": {"k": 1},
        },
    )

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert parameters_of(result) == {
        "text": "hello ada",
        "total": 8,
        "mean": 3.0,
        "flipped": False,
        "extended": [1, 2, 3, 1],
        "merged": {"k": 1, "n": 3},
    }


async def test_a_dataset_written_then_read_with_metrics(tmp_path: Path) -> None:
    data = tmp_path / "store" / "data"
    written = await run(
        write_rows,
        tmp_path,
        task_id="write",
        parameters={"rows": 5},
        output_uris={"data": data.as_uri(), "metrics": (tmp_path / "store" / "metrics").as_uri()},
    )
    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert json.loads(data.read_text()) == [0, 1, 2, 3, 4]
    assert metadata_of(written, "data") == {"rows": 5}
    assert metadata_of(written, "metrics") == {"rows": 5}

    (dataset,) = written.output_artifacts["data"].artifacts
    read = await run(
        read_rows,
        tmp_path,
        task_id="read",
        input_artifacts={"data": [dataset]},
        output_uris={"evaluation": (tmp_path / "store" / "evaluation").as_uri()},
    )

    assert read.state == common_pb2.SUCCEEDED, read.error.message
    assert parameters_of(read) == {"Output": 10, "note": "5 rows, 5 in metadata"}
    assert metadata_of(read, "evaluation") == {
        "confusionMatrix": {
            "annotationSpecs": [{"displayName": "even"}, {"displayName": "odd"}],
            "rows": [{"row": [3, 0]}, {"row": [0, 2]}],
        },
        "confidenceMetrics": [
            {"confidenceThreshold": 1.0, "recall": 0.0, "falsePositiveRate": 0.0},
            {"confidenceThreshold": 0.0, "recall": 1.0, "falsePositiveRate": 1.0},
        ],
    }


async def test_satisfied_packages_are_not_installed(tmp_path: Path) -> None:
    result = await run(with_packages, tmp_path)

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert parameters_of(result) == {"Output": "{'a': 1}"}
    assert "[sluice] pip install skipped, already satisfied here: PyYAML>=5" in log_of(result)


async def test_an_exception_fails_the_task_with_its_traceback(tmp_path: Path) -> None:
    result = await run(explode, tmp_path, parameters={"message": "kaput"})

    assert result.state == common_pb2.FAILED
    assert result.exit_code == 1
    assert result.error.message.endswith("ValueError: boom: kaput")
    raise_line = inspect.getsourcelines(explode.python_func)[1] + 2
    assert f'sluice_component.py", line {raise_line}, in explode' in log_of(result)
    assert "sluice_runtime.py" not in log_of(result)


def test_the_command_needs_only_python_and_its_standard_library(tmp_path: Path) -> None:
    """Run the compiled command by hand with a `python3` that cannot import anything installed."""
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    real = shutil.which("python3", path=str(Path(sys.executable).parent))
    python.write_text(f'#!/bin/sh\nexec "{real}" -I -S "$@"\n')
    python.chmod(0o755)
    container = compiled(describe).container
    executor_input = {
        "inputs": {
            "parameterValues": {
                "name": "bo", "count": 1, "ratio": 2.0, "flag": False, "values": [2, 4], "extra": {},
            }
        },
        "outputs": {"outputFile": str(tmp_path / "out" / "executor_output.json")},
    }  # fmt: skip
    argv = [
        *container["command"],
        *[json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]],
    ]
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "TMPDIR": str(tmp_path)}

    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)

    assert completed.returncode == 0, completed.stderr
    assert json.loads((tmp_path / "out" / "executor_output.json").read_text()) == {
        "parameterValues": {
            "text": "hello bo",
            "total": 7,
            "mean": 6.0,
            "flipped": True,
            "extended": [2, 4, 0],
            "merged": {"n": 2},
        }
    }


@pytest.mark.parametrize("component", [describe, write_rows, read_rows, with_packages, explode])
def test_the_shipped_module_compiles_on_its_own(component: PythonComponent) -> None:
    compile(component.source, "sluice_component.py", "exec")
    assert "from sluice_runtime import" in component.source or "sluice" not in component.source

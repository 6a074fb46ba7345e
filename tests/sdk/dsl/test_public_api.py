"""The names `sluice`, `sluice.dsl`, `sluice.compiler` and `sluice.runtime` export, pinned."""

from __future__ import annotations

import subprocess
import sys

import sluice
from sluice import compiler, dsl, runtime


def test_dsl_names() -> None:
    assert sorted(dsl.__all__) == sorted(
        [
            "HTML",
            "PIPELINE_JOB_ID_PLACEHOLDER",
            "PIPELINE_JOB_NAME_PLACEHOLDER",
            "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER",
            "PIPELINE_ROOT_PLACEHOLDER",
            "PIPELINE_TASK_ID_PLACEHOLDER",
            "PIPELINE_TASK_NAME_PLACEHOLDER",
            "Artifact",
            "BaseComponent",
            "ClassificationMetrics",
            "Collected",
            "CompileError",
            "ConcatPlaceholder",
            "Condition",
            "ContainerComponent",
            "ContainerSpec",
            "Dataset",
            "Elif",
            "Else",
            "ExitHandler",
            "If",
            "IfPresentPlaceholder",
            "Input",
            "InputPath",
            "Markdown",
            "Metrics",
            "Model",
            "OneOf",
            "Output",
            "OutputPath",
            "ParallelFor",
            "Pipeline",
            "PipelineTask",
            "PipelineTaskFinalStatus",
            "PythonComponent",
            "SourceLocation",
            "component",
            "container_component",
            "importer",
            "pipeline",
        ]
    )
    assert all(hasattr(dsl, name) for name in dsl.__all__)


def test_kfp_dsl_names_exist_in_sluice_dsl() -> None:
    from kfp import dsl as kfp_dsl

    shared = {
        "Artifact", "ClassificationMetrics", "Collected", "ConcatPlaceholder", "Condition", "ContainerSpec",
        "Dataset", "Elif", "Else", "ExitHandler", "HTML", "If", "IfPresentPlaceholder", "Input", "InputPath",
        "Markdown", "Metrics", "Model", "OneOf", "Output", "OutputPath", "ParallelFor", "PipelineTask",
        "PipelineTaskFinalStatus", "PIPELINE_JOB_NAME_PLACEHOLDER", "PIPELINE_TASK_NAME_PLACEHOLDER",
        "PIPELINE_ROOT_PLACEHOLDER", "component", "container_component", "importer", "pipeline",
    }  # fmt: skip
    assert shared <= set(dir(kfp_dsl))
    assert shared <= set(dsl.__all__)


def test_compiler_and_runtime_names() -> None:
    assert sorted(compiler.__all__) == [
        "CompiledPipeline",
        "Compiler",
        "compile_package",
        "compile_pipeline",
        "to_yaml",
    ]
    assert sorted(runtime.__all__) == sorted(
        [
            "HTML",
            "Artifact",
            "ClassificationMetrics",
            "Dataset",
            "Markdown",
            "Metrics",
            "Model",
            "PipelineTaskFinalStatus",
            "execute",
            "load_function",
            "main",
        ]
    )
    assert sluice.__version__ == "0.1.0"
    assert dsl.Dataset is runtime.Dataset


def test_import_sluice_loads_neither_the_dsl_nor_yaml() -> None:
    script = "import sys, sluice; print(sorted(m for m in sys.modules if m.startswith(('sluice', 'yaml'))))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "['sluice']"


def test_the_sdk_does_not_import_kfp_kubernetes_or_protobuf() -> None:
    script = (
        "import sys, sluice.dsl, sluice.compiler, sluice.runtime\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('kfp', 'kubernetes', 'google', 'grpc')]\n"
        "print(heavy)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "[]"

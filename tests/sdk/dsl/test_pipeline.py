"""Pipelines: how groups and tasks are named and wired, and what the task settings compile to."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from sluice import dsl
from sluice.compiler import Compiler, compile_package, compile_pipeline
from sluice.dsl import CompileError

from tests.sdk.dsl.components import add, nothing, numbers, scale, shout


def tasks_of(spec: dict[str, Any], component: str = "root") -> dict[str, Any]:
    owner = spec["root"] if component == "root" else spec["components"][component]
    tasks: dict[str, Any] = owner["dag"]["tasks"]
    return tasks


def test_names_follow_kfp() -> None:
    @dsl.pipeline
    def my_pipe_line(text: str) -> None:
        shout(text=text)
        shout(text=text)
        with dsl.If(text == "a"):
            shout(text="a")
        with dsl.Elif(text == "b"):
            shout(text="b")
        with dsl.Else():
            shout(text="c")
        with dsl.ParallelFor(["x", "y"]) as item:
            shout(text=item)

    spec = compile_pipeline(my_pipe_line)

    assert spec["pipelineInfo"] == {"name": "my-pipe-line"}
    assert set(tasks_of(spec)) == {"shout", "shout-2", "condition-branches-1", "for-loop-6"}
    assert set(tasks_of(spec, "comp-condition-branches-1")) == {"condition-2", "condition-3", "condition-4"}
    assert tasks_of(spec, "comp-for-loop-6")["shout-6"]["inputs"]["parameters"]["text"] == {
        "componentInputParameter": "pipelinechannel--loop-item-param-5"
    }
    assert tasks_of(spec, "comp-condition-3")["shout-4"]["componentRef"] == {"name": "comp-shout-4"}
    assert spec["components"]["comp-shout-4"]["executorLabel"] == "exec-shout-4"


def test_tasks_after_elif_stay_outside_the_branches() -> None:
    @dsl.pipeline
    def branches(text: str) -> None:
        with dsl.If(text == "a"):
            shout(text="a")
        with dsl.Elif(text == "b"):
            shout(text="b")
        shout(text="after")
        with dsl.Else():
            shout(text="c")

    spec = compile_pipeline(branches)

    assert set(tasks_of(spec)) == {"condition-branches-1", "shout-3"}
    assert set(tasks_of(spec, "comp-condition-branches-1")) == {"condition-2", "condition-3", "condition-4"}


def test_conditions_compile_to_cel() -> None:
    @dsl.pipeline
    def conditions(count: int, ratio: float, flag: bool, text: str) -> None:
        with dsl.If(count > 2.5):
            nothing()
        with dsl.If(flag):
            nothing()
        with dsl.If(text != "it's"):
            nothing()
        with dsl.If(ratio <= count):
            nothing()
        with dsl.If(text == count):  # type: ignore[comparison-overlap]
            nothing()

    conditions_by_group = {
        name: task["triggerPolicy"]["condition"]
        for name, task in tasks_of(compile_pipeline(conditions)).items()
        if "triggerPolicy" in task
    }

    assert conditions_by_group == {
        "condition-1": "double(int(inputs.parameter_values['pipelinechannel--count'])) > 2.5",
        "condition-2": "inputs.parameter_values['pipelinechannel--flag'] == true",
        "condition-3": "inputs.parameter_values['pipelinechannel--text'] != 'it\\'s'",
        "condition-4": (
            "inputs.parameter_values['pipelinechannel--ratio'] <= "
            "double(int(inputs.parameter_values['pipelinechannel--count']))"
        ),
        "condition-5": (
            "inputs.parameter_values['pipelinechannel--text'] == "
            "string(int(inputs.parameter_values['pipelinechannel--count']))"
        ),
    }


def test_a_list_condition_is_an_error() -> None:
    with pytest.raises(CompileError, match="a condition compares str, int, float or bool values"):

        @dsl.pipeline
        def wrong(items: list[int]) -> None:
            with dsl.If(items == [1]):
                nothing()


def test_values_inside_strings_lists_and_dicts() -> None:
    @dsl.pipeline
    def embedded(name: str, count: int) -> None:
        listed = numbers()
        shout(text=f"{name} has {count} items: {listed.output}")

    task = tasks_of(compile_pipeline(embedded))["shout"]

    assert task["dependentTasks"] == ["numbers"]
    assert task["inputs"]["parameters"] == {
        "text": {
            "runtimeValue": {
                "constant": "{{$.inputs.parameters['pipelinechannel--name']}} has "
                "{{$.inputs.parameters['pipelinechannel--count']}} items: "
                "{{$.inputs.parameters['pipelinechannel--numbers-Output']}}"
            }
        },
        "pipelinechannel--name": {"componentInputParameter": "name"},
        "pipelinechannel--count": {"componentInputParameter": "count"},
        "pipelinechannel--numbers-Output": {
            "taskOutputParameter": {"producerTask": "numbers", "outputParameterKey": "Output"}
        },
    }


def test_task_settings_compile_to_the_ir(tmp_path: Path) -> None:
    @dsl.pipeline
    def settings() -> None:
        first = nothing().set_caching_options(False)
        second = nothing().after(first).set_display_name("Second").set_timeout(12.5).set_cpu_limit("250m")
        nothing().after(first, second).set_retry(2).set_accelerator_limit(4).set_memory_request("2G")

    compiled = compile_package(settings)
    tasks = tasks_of(compiled.pipeline_spec)
    executors = compiled.pipeline_spec["deploymentSpec"]["executors"]

    assert tasks["nothing"]["cachingOptions"] == {}
    assert tasks["nothing-2"]["taskInfo"] == {"name": "Second"}
    assert tasks["nothing-2"]["dependentTasks"] == ["nothing"]
    assert tasks["nothing-3"]["dependentTasks"] == ["nothing", "nothing-2"]
    assert tasks["nothing-3"]["retryPolicy"] == {
        "maxRetryCount": 2,
        "backoffDuration": "0s",
        "backoffFactor": 2.0,
        "backoffMaxDuration": "3600s",
    }
    assert executors["exec-nothing-2"]["container"]["resources"] == {
        "resourceCpuLimit": "250m",
        "cpuLimit": 0.25,
    }
    assert executors["exec-nothing-3"]["container"]["resources"] == {
        "accelerator": {"count": "4", "resourceCount": "4"},
        "memoryRequest": 2.0,
        "resourceMemoryRequest": "2G",
    }
    assert compiled.platform_spec == {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {"executors": {"exec-nothing-2": {"activeDeadlineSeconds": "13"}}}
            }
        }
    }
    package = tmp_path / "settings.yaml"
    Compiler().compile(settings, package)
    documents = list(yaml.safe_load_all(package.read_text()))
    assert documents == [compiled.pipeline_spec, compiled.platform_spec]


def test_after_an_exit_handler_block() -> None:
    @dsl.pipeline
    def guarded() -> None:
        exit_task = nothing()
        with dsl.ExitHandler(exit_task) as block:
            nothing()
        nothing().after(block)

    tasks = tasks_of(compile_pipeline(guarded))

    assert tasks["nothing-3"]["dependentTasks"] == ["exit-handler-1"]
    assert tasks["nothing"]["dependentTasks"] == ["exit-handler-1"]
    assert tasks["nothing"]["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}


class Results(NamedTuple):
    total: int
    text: str


def test_a_pipeline_with_several_outputs_used_as_a_component() -> None:
    @dsl.pipeline
    def inner(a: int) -> Results:
        return Results(add(a=a).output, shout(text="x").output)

    @dsl.pipeline
    def outer() -> float:
        results = inner(a=1)
        shout(text=results.outputs["text"])
        return scale(x=results.outputs["total"]).output

    spec = compile_pipeline(outer)

    assert spec["components"]["comp-inner"]["dag"]["outputs"]["parameters"] == {
        "total": {"valueFromParameter": {"producerSubtask": "add", "outputParameterKey": "Output"}},
        "text": {"valueFromParameter": {"producerSubtask": "shout", "outputParameterKey": "Output"}},
    }
    assert tasks_of(spec)["scale"]["inputs"]["parameters"]["x"] == {
        "taskOutputParameter": {"producerTask": "inner", "outputParameterKey": "total"}
    }


def test_compile_overrides_name_and_defaults() -> None:
    @dsl.pipeline
    def defaults(count: int = 1) -> None:
        add(a=count)

    spec = compile_package(defaults, pipeline_name="renamed", pipeline_parameters={"count": 5}).pipeline_spec

    assert spec["pipelineInfo"]["name"] == "renamed"
    assert spec["root"]["inputDefinitions"]["parameters"]["count"] == {
        "parameterType": "NUMBER_INTEGER",
        "isOptional": True,
        "defaultValue": 5,
    }
    with pytest.raises(CompileError, match="'missing' is not an input of the pipeline"):
        compile_package(defaults, pipeline_parameters={"missing": 1})
    with pytest.raises(CompileError, match="expected int, got str"):
        compile_package(defaults, pipeline_parameters={"count": "many"})


def test_a_component_compiles_as_a_one_task_pipeline() -> None:
    spec = compile_pipeline(add)

    assert spec["pipelineInfo"] == {"name": "add"}
    assert tasks_of(spec)["add"]["inputs"]["parameters"] == {
        "a": {"componentInputParameter": "a"},
        "b": {"componentInputParameter": "b"},
    }
    assert spec["root"]["dag"]["outputs"]["parameters"]["Output"] == {
        "valueFromParameter": {"producerSubtask": "add", "outputParameterKey": "Output"}
    }


def test_the_package_path_must_be_yaml(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match=r"must end with \.yaml"):
        Compiler().compile(add, tmp_path / "add.json")


def test_the_yaml_header_describes_the_pipeline(tmp_path: Path) -> None:
    @dsl.pipeline(description="First line.\n\nSecond line.")
    def described(text: str = "hi", count: int = 2) -> str:
        return shout(text=text).output

    package = tmp_path / "described.yaml"
    Compiler().compile(described, package)

    assert package.read_text().startswith(
        "# PIPELINE DEFINITION\n"
        "# Name: described\n"
        "# Description: First line.\n"
        "#              \n"
        "#              Second line.\n"
        "# Inputs:\n"
        "#    count: int [Default: 2]\n"
        "#    text: str [Default: 'hi']\n"
        "# Outputs:\n"
        "#    Output: str\n"
        "components:\n"
    )

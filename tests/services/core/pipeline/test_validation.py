"""Bad packages and broken graphs: each error names the problem, the DAG, task and input."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from services.core.errors import InvalidArgument
from services.core.pipeline.ir import load_pipeline, load_pipeline_package, parse_pipeline
from tests.services.core.pipeline.kfp_samples import SpecOf


def _error(spec: dict[str, Any], platform: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_pipeline(spec, platform)
    assert caught.value.field is not None
    assert caught.value.field.startswith(("pipeline_spec", "platform_spec"))
    return caught.value.message


def _load_error(data: bytes | str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        load_pipeline_package(data)
    return caught.value.message


# --- not a pipeline spec ----------------------------------------------------------------


def test_not_yaml() -> None:
    message = _load_error(b"pipelineInfo: {name: x\nroot: [")
    assert message.startswith("not a KFP PipelineSpec: neither YAML nor JSON")
    assert "line" in message


def test_not_utf8() -> None:
    assert "not UTF-8" in _load_error(b"\xff\xfe\x00junk")


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ("just a string", "the pipeline package is a string, not a mapping"),
        ("- 1\n- 2\n", "the pipeline package is a list, not a mapping"),
        ("", "the package is empty"),
        (
            "apiVersion: v1\nkind: Pod\n",
            "missing 'pipelineInfo', 'root', 'schemaVersion' (found 'apiVersion', 'kind')",
        ),
        ('{"pipelineSpec": 3}', "'pipelineSpec' is a number, not a mapping"),
    ],
)
def test_yaml_that_is_not_a_pipeline_spec(package: str, expected: str) -> None:
    message = _load_error(package)
    assert message.startswith("not a KFP PipelineSpec")
    assert expected in message


def test_second_document_must_be_a_platform_spec(compiled: dict[str, bytes]) -> None:
    message = _load_error(compiled["linear"] + b"---\nfoo: 1\n")
    assert message == "not a KFP PlatformSpec: no 'platforms' key (found 'foo')"
    assert _load_error(compiled["linear"] + b"---\n- 1\n") == (
        "not a KFP PlatformSpec: document 2 is a list, not a mapping"
    )
    three = compiled["linear"] + b"---\nplatforms: {}\n---\nplatforms: {}\n"
    assert "at most 2 YAML documents" in _load_error(three)


def test_unknown_field_reports_protobufs_message(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"]["add"]["retries"] = 3
    message = _error(spec)
    assert message.startswith("invalid pipeline_spec: ")
    assert 'Message type "ml_pipelines.PipelineTaskSpec" has no field named "retries"' in message
    assert "PipelineSpec.root.dag.tasks[add]" in message


def test_unknown_field_in_deployment_spec(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["deploymentSpec"]["executors"]["exec-add"]["container"]["cpu"] = 2
    message = _error(spec)
    assert message.startswith("invalid pipeline_spec.deploymentSpec: ")
    assert 'no field named "cpu"' in message


def test_wrong_enum_value(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["inputDefinitions"]["parameters"]["a"]["parameterType"] = "INTEGER"
    assert "Invalid enum value INTEGER" in _error(spec)


def test_unknown_field_in_platform_spec(spec_of: SpecOf) -> None:
    message = _error(spec_of("linear"), {"platforms": {"kubernetes": {"deploymentSpec": {}, "extra": 1}}})
    assert message.startswith("invalid platform_spec: ")
    assert 'no field named "extra"' in message


def test_unsupported_schema_version(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["schemaVersion"] = "1.0.0"
    assert "unsupported schemaVersion '1.0.0'" in _error(spec)


# --- graph problems ----------------------------------------------------------------------


def test_unknown_component_ref(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"]["add-2"]["componentRef"]["name"] = "comp-missing"
    message = _error(spec)
    assert message.startswith(
        "invalid pipeline: DAG 'root', task 'add-2': componentRef 'comp-missing' names no"
    )
    assert "known: 'comp-add', 'comp-add-2', 'comp-add-3'" in message


def test_unknown_executor_label(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["components"]["comp-add"]["executorLabel"] = "exec-gone"
    message = _error(spec)
    assert "component 'comp-add' names executorLabel 'exec-gone'" in message
    assert "deploymentSpec.executors does not define" in message


def test_component_with_neither_dag_nor_executor(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    del spec["components"]["comp-add-3"]["executorLabel"]
    assert _error(spec) == "invalid pipeline: component 'comp-add-3' has neither a dag nor an executorLabel"


def test_unknown_producer_task(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    source = spec["root"]["dag"]["tasks"]["add-2"]["inputs"]["parameters"]["a"]["taskOutputParameter"]
    source["producerTask"] = "ghost"
    message = _error(spec)
    assert (
        "DAG 'root', task 'add-2', input parameter 'a': "
        "taskOutputParameter names unknown producer task 'ghost'" in message
    )


def test_unknown_producer_inside_a_sub_dag(spec_of: SpecOf) -> None:
    spec = spec_of("nested")
    output = spec["components"]["comp-inner"]["dag"]["outputs"]["parameters"]["Output"]["valueFromParameter"]
    output["producerSubtask"] = "nobody"
    message = _error(spec)
    assert (
        "DAG 'comp-inner', output parameter 'Output': selector names unknown producer task 'nobody'"
        in message
    )


def test_unknown_dependent_task(spec_of: SpecOf) -> None:
    spec = spec_of("fan-in")
    spec["root"]["dag"]["tasks"]["echo-3"]["dependentTasks"].append("echo-9")
    assert "DAG 'root', task 'echo-3': dependentTasks names unknown task 'echo-9'" in _error(spec)


def test_unknown_final_status_producer(spec_of: SpecOf) -> None:
    spec = spec_of("exit-handler")
    spec["root"]["dag"]["tasks"]["report"]["inputs"]["parameters"]["status"]["taskFinalStatus"][
        "producerTask"
    ] = "x"
    assert "task 'report', input parameter 'status': taskFinalStatus names unknown task 'x'" in _error(spec)


def test_output_key_not_declared_by_producer(spec_of: SpecOf) -> None:
    spec = spec_of("artifacts")
    spec["root"]["dag"]["tasks"]["train"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"][
        "outputArtifactKey"
    ] = "dataset"
    message = _error(spec)
    assert (
        "DAG 'root', task 'train', input artifact 'data': taskOutputArtifact reads output artifact 'dataset' "
        "of task 'produce', which its component 'comp-produce' does not declare (known: 'out')"
    ) in message


def test_input_not_declared_by_component(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"]["add"]["inputs"]["parameters"]["c"] = {"runtimeValue": {"constant": 1}}
    message = _error(spec)
    assert "DAG 'root', task 'add', input parameter 'c': not declared by component 'comp-add'" in message


def test_component_input_parameter_not_declared_by_enclosing_component(spec_of: SpecOf) -> None:
    spec = spec_of("nested")
    spec["components"]["comp-inner"]["dag"]["tasks"]["add"]["inputs"]["parameters"]["a"] = {
        "componentInputParameter": "m"
    }
    message = _error(spec)
    assert (
        "DAG 'comp-inner', task 'add', input parameter 'a': componentInputParameter 'm' is not an input "
        "parameter of the enclosing component 'comp-inner' (known: 'n')"
    ) in message


def test_dependency_cycle_is_named(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"]["add"]["dependentTasks"] = ["add-3"]
    assert _error(spec) == "invalid pipeline: DAG 'root': dependency cycle add -> add-2 -> add-3 -> add"


def test_two_task_cycle_through_data(spec_of: SpecOf) -> None:
    spec = spec_of("diamond")
    spec["root"]["dag"]["tasks"]["add"]["inputs"]["parameters"]["b"] = {
        "taskOutputParameter": {"producerTask": "add-2", "outputParameterKey": "Output"}
    }
    assert "DAG 'root': dependency cycle add -> add-2 -> add" in _error(spec)


def test_component_that_contains_itself(spec_of: SpecOf) -> None:
    spec = spec_of("nested")
    spec["components"]["comp-inner"]["dag"]["tasks"]["add"]["componentRef"]["name"] = "comp-inner"
    spec["components"]["comp-inner"]["dag"]["tasks"]["add"]["inputs"]["parameters"] = {
        "n": {"componentInputParameter": "n"}
    }
    assert "components contain themselves: comp-inner -> comp-inner" in _error(spec)


def test_required_input_without_source(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    del spec["root"]["dag"]["tasks"]["add-2"]["inputs"]["parameters"]["b"]
    assert _error(spec) == (
        "invalid pipeline: DAG 'root', task 'add-2': required input parameter 'b' of component 'comp-add-2' "
        "has no source"
    )


def test_required_artifact_without_source(spec_of: SpecOf) -> None:
    spec = spec_of("artifacts")
    del spec["root"]["dag"]["tasks"]["train"]["inputs"]
    assert "task 'train': required input artifact 'data' of component 'comp-train' has no source" in _error(
        spec
    )


@pytest.mark.parametrize(
    ("task", "name", "constant", "expected"),
    [
        ("add", "b", "two", "constant 'two' is not a valid NUMBER_INTEGER: expected an integer"),
        (
            "add",
            "b",
            2.5,
            "constant 2.5 is not a valid NUMBER_INTEGER: expected an integer, got a fractional number",
        ),
        ("add", "b", True, "constant true is not a valid NUMBER_INTEGER"),
    ],
)
def test_constant_of_the_wrong_type(
    spec_of: SpecOf, task: str, name: str, constant: object, expected: str
) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"][name] = {
        "runtimeValue": {"constant": constant}
    }
    message = _error(spec)
    assert f"DAG 'root', task '{task}', input parameter '{name}': {expected}" in message


def test_list_and_struct_constants_of_the_wrong_type(spec_of: SpecOf) -> None:
    spec = spec_of("types")
    constants = spec["root"]["dag"]["tasks"]["all-types-2"]["inputs"]["parameters"]
    constants["xs"]["runtimeValue"]["constant"] = {"not": "a list"}
    constants["d"]["runtimeValue"]["constant"] = [1]
    constants["b"]["runtimeValue"]["constant"] = "yes"
    message = _error(spec)
    assert message.startswith("invalid pipeline: 3 problems: ")
    assert (
        'input parameter \'xs\': constant {"not": "a list"} is not a valid LIST: expected a list' in message
    )
    assert "input parameter 'd': constant [1] is not a valid STRUCT" in message
    assert "input parameter 'b': constant 'yes' is not a valid BOOLEAN" in message


def test_default_of_the_wrong_type(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["inputDefinitions"]["parameters"]["a"]["defaultValue"] = "one"
    assert _error(spec) == (
        "invalid pipeline: component 'root', input parameter 'a': "
        "default 'one' is not a valid NUMBER_INTEGER: expected an integer"
    )


def test_invalid_condition_expression(spec_of: SpecOf) -> None:
    spec = spec_of("conditions")
    task = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]["condition-2"]
    task["triggerPolicy"]["condition"] = "inputs.parameter_values['pipelinechannel--flip-Output'] =="
    message = _error(spec)
    assert (
        "DAG 'comp-condition-branches-1', task 'condition-2': triggerPolicy.condition is not a valid CEL"
        in message
    )


def test_condition_reading_an_input_the_task_lacks(spec_of: SpecOf) -> None:
    spec = spec_of("conditions")
    task = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]["condition-2"]
    task["triggerPolicy"]["condition"] = "inputs.parameter_values['pipelinechannel--coin'] == 'heads'"
    assert "triggerPolicy.condition reads input parameter 'pipelinechannel--coin'" in _error(spec)


def test_loop_item_input_not_declared_by_the_loop_dag(spec_of: SpecOf) -> None:
    spec = spec_of("loops")
    spec["root"]["dag"]["tasks"]["for-loop-2"]["parameterIterator"]["itemInput"] = "item"
    message = _error(spec)
    assert "task 'for-loop-2': parameterIterator.itemInput 'item' is not an input parameter" in message
    # ... and the DAG's real item input now has no source.
    assert "required input parameter 'pipelinechannel--loop-item-param-1'" in message


def test_loop_over_an_input_the_task_lacks(spec_of: SpecOf) -> None:
    spec = spec_of("loops")
    spec["root"]["dag"]["tasks"]["for-loop-3"]["parameterIterator"]["items"] = {"inputParameter": "nothing"}
    message = _error(spec)
    assert (
        "DAG 'root', task 'for-loop-3': parameterIterator iterates over input parameter 'nothing'" in message
    )


def test_raw_loop_items_must_be_a_json_list(spec_of: SpecOf) -> None:
    spec = spec_of("loops")
    spec["root"]["dag"]["tasks"]["for-loop-2"]["parameterIterator"]["items"] = {"raw": '{"a": 1}'}
    assert "parameterIterator.items.raw is not a JSON list" in _error(spec)


def test_invalid_resource_quantity(spec_of: SpecOf) -> None:
    spec = spec_of("settings")
    spec["deploymentSpec"]["executors"]["exec-add"]["container"]["resources"]["resourceMemoryLimit"] = "lots"
    assert "executor 'exec-add': invalid memory limit 'lots'" in _error(spec)


def test_platform_spec_for_an_unknown_executor(spec_of: SpecOf) -> None:
    platform: dict[str, Any] = {
        "platforms": {"kubernetes": {"deploymentSpec": {"executors": {"exec-nope": {}}}}}
    }
    assert "the platform spec configures executor 'exec-nope'" in _error(spec_of("linear"), platform)


def test_every_problem_is_reported_at_once(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    tasks = spec["root"]["dag"]["tasks"]
    tasks["add"]["componentRef"]["name"] = "comp-x"
    tasks["add-2"]["dependentTasks"] = ["add", "zzz"]
    tasks["add-3"]["inputs"]["parameters"]["b"] = {"runtimeValue": {"constant": "4"}}
    message = _error(spec)
    assert message.startswith("invalid pipeline: 3 problems: DAG 'root', task 'add': componentRef 'comp-x'")
    assert "; DAG 'root', task 'add-2': dependentTasks names unknown task 'zzz'" in message
    assert (
        "; DAG 'root', task 'add-3', input parameter 'b': constant '4' is not a valid NUMBER_INTEGER"
        in message
    )


def test_load_pipeline_reports_graph_problems_too(spec_of: SpecOf) -> None:
    spec = spec_of("linear")
    spec["root"]["dag"]["tasks"]["add"]["componentRef"]["name"] = "comp-x"
    with pytest.raises(InvalidArgument, match="componentRef 'comp-x'"):
        load_pipeline(yaml.safe_dump(spec))
    with pytest.raises(InvalidArgument, match="componentRef 'comp-x'"):
        load_pipeline(json.dumps({"pipelineSpec": spec}))

"""Loading and converting KFP IR: pipelines compiled by the real kfp SDK, and hand-written IR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.core.pipeline.ir import load_pipeline, load_pipeline_package, parse_pipeline
from services.core.pipeline.model import (
    ArtifactInput,
    ArtifactIterator,
    Constant,
    ContainerExecutor,
    FromComponentInput,
    FromTaskFinalStatus,
    FromTaskOutput,
    ImporterExecutor,
    ParameterInput,
    ParameterIterator,
    ParameterType,
    Pipeline,
    RetryPolicy,
    TriggerStrategy,
)
from tests.services.core.pipeline.kfp_samples import BASE_IMAGE, SAMPLES, SpecOf

FIXTURES = Path(__file__).parents[3] / "fixtures" / "pipelines"


def _container(pipeline: Pipeline, label: str) -> ContainerExecutor:
    executor = pipeline.executors[label]
    assert isinstance(executor, ContainerExecutor)
    return executor


def _importer(pipeline: Pipeline, label: str) -> ImporterExecutor:
    executor = pipeline.executors[label]
    assert isinstance(executor, ImporterExecutor)
    return executor


def _iterator(pipeline: Pipeline, component: str, task: str) -> ParameterIterator:
    dag = pipeline.root.dag if component == "root" else pipeline.components[component].dag
    assert dag is not None
    iterator = dag.tasks[task].iterator
    assert isinstance(iterator, ParameterIterator)
    return iterator


# --- loading --------------------------------------------------------------------------------


def test_every_sample_compiled_by_kfp_converts_and_validates(compiled: dict[str, bytes]) -> None:
    for name, package in compiled.items():
        pipeline = load_pipeline(package)
        assert pipeline.name == name
        assert pipeline.schema_version == "2.1.0"
        assert pipeline.sdk_version.startswith("kfp-2.")
        assert pipeline.root.dag is not None
    assert set(compiled) == set(SAMPLES)


def test_load_compiled_yaml_has_no_platform_spec(compiled: dict[str, bytes]) -> None:
    spec, platform = load_pipeline_package(compiled["linear"])
    assert spec["pipelineInfo"] == {"name": "linear"}
    assert set(spec) >= {"components", "deploymentSpec", "root", "schemaVersion"}
    assert platform is None


def test_load_str_json_and_bytes_with_bom_give_the_same_spec(compiled: dict[str, bytes]) -> None:
    spec, _ = load_pipeline_package(compiled["diamond"])
    assert load_pipeline_package(compiled["diamond"].decode())[0] == spec
    assert load_pipeline_package(json.dumps(spec).encode())[0] == spec
    assert load_pipeline_package(b"\xef\xbb\xbf" + compiled["diamond"])[0] == spec


def test_load_pipeline_job_wrapper(compiled: dict[str, bytes]) -> None:
    spec, _ = load_pipeline_package(compiled["linear"])
    job = {"displayName": "job", "pipelineSpec": spec, "runtimeConfig": {"parameterValues": {"a": 2}}}
    assert load_pipeline_package(json.dumps(job)) == (spec, None)


def test_load_api_struct_with_platform_spec(compiled: dict[str, bytes]) -> None:
    spec, _ = load_pipeline_package(compiled["linear"])
    platform: dict[str, Any] = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {}}}}}
    stored = {"pipeline_spec": spec, "platform_spec": platform}
    assert load_pipeline_package(yaml.safe_dump(stored)) == (spec, platform)


def test_hand_written_two_document_package_keeps_platform_per_executor() -> None:
    spec, platform = load_pipeline_package((FIXTURES / "hello_platform.yaml").read_bytes())
    assert platform is not None
    assert "kubernetes" in platform["platforms"]
    pipeline = parse_pipeline(spec, platform)
    config = pipeline.platform["exec-hello"]
    assert config["nodeSelector"] == {"labels": {"disktype": "ssd"}}
    # Struct numbers are doubles; integral ones come back as ints.
    assert config["tolerations"] == [
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "ml",
            "effect": "NoSchedule",
            "tolerationSeconds": 3600,
        }
    ]
    assert config["secretAsEnv"] == [
        {"secretName": "db-credentials", "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}]}
    ]
    assert list(pipeline.platform) == ["exec-hello"]


def test_hand_written_package_keeps_yaml_dates_as_strings_and_structured_args_as_objects() -> None:
    pipeline = load_pipeline((FIXTURES / "hello_platform.yaml").read_bytes())
    day = pipeline.root.inputs.parameters["day"]
    assert (day.type, day.default, day.has_default, day.optional) == (
        ParameterType.STRING,
        "2024-01-31",
        True,
        True,
    )
    times = pipeline.root.inputs.parameters["times"]
    assert (times.has_default, times.optional) == (False, False)
    executor = _container(pipeline, "exec-hello")
    assert executor.args == (
        "echo hello on {{$.inputs.parameters['day']}}",
        {"Concat": ["--times=", "{{$.inputs.parameters['times']}}"]},
    )
    assert executor.command == ("sh", "-c")
    assert executor.env == {"GREETING": "hi"}
    assert pipeline.description == "Hand-written pipeline with a platform spec"


def test_compiled_pipeline_with_a_hand_written_platform_document(compiled: dict[str, bytes]) -> None:
    platform = {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {
                    "executors": {
                        "exec-add": {
                            "podMetadata": {"annotations": {"owner": "ml"}},
                            "pvcMount": [{"constant": "shared", "mountPath": "/data"}],
                        }
                    }
                }
            }
        }
    }
    package = compiled["linear"] + b"---\n" + yaml.safe_dump(platform).encode()
    pipeline = load_pipeline(package)
    assert pipeline.platform == {
        "exec-add": {
            "podMetadata": {"annotations": {"owner": "ml"}},
            "pvcMount": [{"constant": "shared", "mountPath": "/data"}],
        }
    }


# --- graphs -----------------------------------------------------------------------------------


def test_linear_chain_with_coerced_constants(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["linear"])
    a = pipeline.root.inputs.parameters["a"]
    assert (a.type, a.default, a.has_default, a.optional) == (ParameterType.NUMBER_INTEGER, 1, True, True)
    assert type(a.default) is int
    assert pipeline.root.dag is not None
    tasks = pipeline.root.dag.tasks
    assert list(tasks) == ["add", "add-2", "add-3"]
    assert tasks["add"].parameters == {
        "a": ParameterInput(FromComponentInput("a")),
        "b": ParameterInput(Constant(2)),
    }
    constant = tasks["add"].parameters["b"].source
    assert isinstance(constant, Constant)
    assert type(constant.value) is int
    assert tasks["add-2"].dependencies == ("add",)
    assert tasks["add-2"].parameters["a"] == ParameterInput(FromTaskOutput("add", "Output"))
    assert tasks["add-3"].dependencies == ("add-2",)
    assert tasks["add"].component == "comp-add"
    assert tasks["add"].display_name == "add"
    assert tasks["add"].enable_cache is True
    assert tasks["add"].retry is None
    assert pipeline.components["comp-add"].executor == "exec-add"
    outputs = pipeline.components["comp-add"].outputs.parameters
    assert outputs["Output"].type is ParameterType.NUMBER_INTEGER
    executor = _container(pipeline, "exec-add")
    assert executor.image == BASE_IMAGE
    assert executor.args == ("--executor_input", "{{$}}", "--function_to_execute", "add")
    assert executor.command[:2] == ("sh", "-c")
    assert any("kfp.dsl.executor_main" in str(part) for part in executor.command)


def test_diamond_and_fan_in_dependencies(compiled: dict[str, bytes]) -> None:
    diamond = load_pipeline(compiled["diamond"])
    assert diamond.root.dag is not None
    tasks = diamond.root.dag.tasks
    assert tasks["add-2"].dependencies == ("add",)
    assert tasks["add-3"].dependencies == ("add",)
    assert set(tasks["add-4"].dependencies) == {"add-2", "add-3"}
    assert tasks["add-4"].parameters == {
        "a": ParameterInput(FromTaskOutput("add-2", "Output")),
        "b": ParameterInput(FromTaskOutput("add-3", "Output")),
    }
    fan_in = load_pipeline(compiled["fan-in"])
    assert fan_in.root.dag is not None
    assert set(fan_in.root.dag.tasks["echo-3"].dependencies) == {"echo", "echo-2", "flip"}


def test_every_parameter_type_with_defaults_and_optional(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["types"])
    declared = pipeline.root.inputs.parameters
    summary = {
        name: (spec.type, spec.default, spec.has_default, spec.optional) for name, spec in declared.items()
    }
    assert summary == {
        "s": (ParameterType.STRING, None, False, False),
        "i": (ParameterType.NUMBER_INTEGER, None, False, False),
        "f": (ParameterType.NUMBER_DOUBLE, 2.5, True, True),
        "b": (ParameterType.BOOLEAN, False, True, True),
        "xs": (ParameterType.LIST, [1, 2, 3], True, True),
        "d": (ParameterType.STRUCT, {"k": 1}, True, True),
        "o": (ParameterType.STRING, None, False, True),
    }
    assert all(type(item) is int for item in declared["xs"].default)  # type: ignore[union-attr]
    component = pipeline.components["comp-all-types"].inputs.parameters
    assert (component["n"].default, component["o"].optional, component["o"].has_default) == (7, True, False)
    assert pipeline.root.dag is not None
    constants = pipeline.root.dag.tasks["all-types-2"].parameters
    assert {name: source.source for name, source in constants.items()} == {
        "s": Constant("c"),
        "i": Constant(4),
        "f": Constant(0.25),
        "b": Constant(True),
        "xs": Constant([5, 6]),
        "d": Constant({"z": 2}),
    }


def test_artifacts_between_tasks(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["artifacts"])
    out = pipeline.components["comp-produce"].outputs.artifacts["out"]
    assert (out.schema_title, out.schema_version, out.is_list) == ("system.Dataset", "0.0.1", False)
    train = pipeline.components["comp-train"]
    assert train.inputs.artifacts["data"].schema_title == "system.Dataset"
    assert train.outputs.artifacts["model"].schema_title == "system.Model"
    assert train.outputs.parameters["Output"].type is ParameterType.NUMBER_DOUBLE
    assert pipeline.root.dag is not None
    task = pipeline.root.dag.tasks["train"]
    assert task.artifacts == {"data": ArtifactInput(FromTaskOutput("produce", "out"))}
    assert task.dependencies == ("produce",)


def test_parallel_for_over_raw_list_parameter_and_upstream_output(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["loops"])
    assert pipeline.root.dag is not None
    tasks = pipeline.root.dag.tasks

    raw = _iterator(pipeline, "root", "for-loop-2")
    assert raw == ParameterIterator(ParameterInput(Constant([1, 2, 3])), "pipelinechannel--loop-item-param-1")
    assert tasks["for-loop-2"].parallelism == 2
    loop_body = pipeline.components["comp-for-loop-2"]
    assert (
        loop_body.inputs.parameters["pipelinechannel--loop-item-param-1"].type is ParameterType.NUMBER_INTEGER
    )
    assert loop_body.dag is not None
    assert loop_body.dag.tasks["add"].parameters["a"] == ParameterInput(
        FromComponentInput("pipelinechannel--loop-item-param-1")
    )

    over_param = _iterator(pipeline, "root", "for-loop-3")
    assert over_param == ParameterIterator(
        ParameterInput(FromComponentInput("xs")), "pipelinechannel--xs-loop-item", "pipelinechannel--xs"
    )
    assert tasks["for-loop-3"].parameters == {"pipelinechannel--xs": ParameterInput(FromComponentInput("xs"))}
    assert tasks["for-loop-3"].parallelism == 0

    over_output = _iterator(pipeline, "root", "for-loop-4")
    assert over_output.items == ParameterInput(FromTaskOutput("make-list", "Output"))
    assert over_output.items_input == "pipelinechannel--make-list-Output"
    assert over_output.item_input == "pipelinechannel--make-list-Output-loop-item"
    assert tasks["for-loop-4"].parallelism == 3
    assert tasks["for-loop-4"].dependencies == ("make-list",)


def test_collected_loop_output_is_a_list_dag_output(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["loops"])
    body = pipeline.components["comp-for-loop-4"]
    assert body.outputs.parameters["pipelinechannel--add-3-Output"].type is ParameterType.LIST
    assert body.dag is not None
    assert body.dag.parameter_outputs["pipelinechannel--add-3-Output"].sources == (
        FromTaskOutput("add-3", "Output"),
    )
    assert pipeline.root.dag is not None
    assert pipeline.root.dag.tasks["total"].parameters["xs"] == ParameterInput(
        FromTaskOutput("for-loop-4", "pipelinechannel--add-3-Output")
    )


def test_nested_loops_and_struct_items_with_selectors(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["loops"])
    outer = _iterator(pipeline, "root", "for-loop-6")
    assert outer.items == ParameterInput(Constant([1, 2]))
    inner = _iterator(pipeline, "comp-for-loop-6", "for-loop-8")
    assert inner.items == ParameterInput(Constant([10, 20]))
    outer_body = pipeline.components["comp-for-loop-6"].dag
    assert outer_body is not None
    # The outer item is passed down to the inner loop's DAG as an ordinary input.
    assert outer_body.tasks["for-loop-8"].parameters == {
        outer.item_input: ParameterInput(FromComponentInput(outer.item_input))
    }
    inner_body = pipeline.components["comp-for-loop-8"]
    assert set(inner_body.inputs.parameters) == {outer.item_input, inner.item_input}

    pairs = _iterator(pipeline, "root", "for-loop-10")
    assert pairs.items == ParameterInput(Constant([{"a": 1, "b": 2}, {"a": 3, "b": 4}]))
    body = pipeline.components["comp-for-loop-10"]
    assert body.inputs.parameters[pairs.item_input].type is ParameterType.STRUCT
    assert body.dag is not None
    assert body.dag.tasks["add-5"].parameters["a"] == ParameterInput(
        FromComponentInput(pairs.item_input), selector='parseJson(string_value)["a"]'
    )


def test_if_elif_else_conditions_and_one_of(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["conditions"])
    branches = pipeline.components["comp-condition-branches-1"].dag
    assert branches is not None
    channel = "pipelinechannel--flip-Output"
    assert branches.tasks["condition-2"].condition == f"inputs.parameter_values['{channel}'] == 'heads'"
    elif_condition = branches.tasks["condition-3"].condition
    assert elif_condition is not None
    assert elif_condition.startswith("!(")
    assert "'tails'" in elif_condition
    assert branches.tasks["condition-4"].condition is not None
    assert branches.tasks["condition-2"].parameters == {channel: ParameterInput(FromComponentInput(channel))}
    one_of = branches.parameter_outputs["pipelinechannel--condition-branches-1-oneof-1"]
    assert one_of.sources == (
        FromTaskOutput("condition-2", "pipelinechannel--echo-Output"),
        FromTaskOutput("condition-3", "pipelinechannel--echo-2-Output"),
        FromTaskOutput("condition-4", "pipelinechannel--echo-3-Output"),
    )
    assert pipeline.root.dag is not None
    assert pipeline.root.dag.tasks["condition-branches-1"].parameters == {
        channel: ParameterInput(FromTaskOutput("flip", "Output"))
    }
    assert pipeline.root.dag.tasks["echo-4"].parameters["msg"] == ParameterInput(
        FromTaskOutput("condition-branches-1", "pipelinechannel--condition-branches-1-oneof-1")
    )


def test_exit_handler_with_final_status(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["exit-handler"])
    assert pipeline.root.dag is not None
    exit_task = pipeline.root.dag.tasks["report"]
    assert exit_task.strategy is TriggerStrategy.ALL_UPSTREAM_TASKS_COMPLETED
    assert exit_task.dependencies == ("exit-handler-1",)
    assert exit_task.parameters == {"status": ParameterInput(FromTaskFinalStatus("exit-handler-1"))}
    status = pipeline.components["comp-report"].inputs.parameters["status"]
    assert (status.type, status.optional) == (ParameterType.TASK_FINAL_STATUS, True)
    handler = pipeline.components["comp-exit-handler-1"].dag
    assert handler is not None
    assert list(handler.tasks) == ["echo"]
    assert pipeline.root.dag.tasks["exit-handler-1"].strategy is TriggerStrategy.ALL_UPSTREAM_TASKS_SUCCEEDED


def test_nested_pipeline_is_a_dag_component_with_outputs(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["nested"])
    inner = pipeline.components["comp-inner"]
    assert inner.executor is None
    assert inner.dag is not None
    assert inner.inputs.parameters["n"].type is ParameterType.NUMBER_INTEGER
    assert inner.dag.parameter_outputs["Output"].sources == (FromTaskOutput("add", "Output"),)
    assert inner.dag.tasks["add"].parameters["a"] == ParameterInput(FromComponentInput("n"))
    assert pipeline.root.dag is not None
    root_tasks = pipeline.root.dag.tasks
    assert root_tasks["inner"].parameters == {"n": ParameterInput(Constant(3))}
    assert root_tasks["echo"].dependencies == ("inner",)
    assert root_tasks["add"].parameters["a"] == ParameterInput(FromTaskOutput("inner", "Output"))


def test_importer_with_constant_and_runtime_uri(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["importer"])
    constant = _importer(pipeline, "exec-importer")
    assert constant.artifact_uri == ParameterInput(Constant("gs://bucket/data.csv"))
    assert (constant.schema_title, constant.schema_version, constant.reimport) == (
        "system.Dataset",
        "0.0.1",
        True,
    )
    assert constant.metadata == {"source": "census", "rows": 100}
    assert type(constant.metadata["rows"]) is int
    runtime = _importer(pipeline, "exec-importer-2")
    assert runtime.artifact_uri == ParameterInput(FromComponentInput("uri"))
    assert (runtime.schema_title, runtime.reimport, dict(runtime.metadata)) == ("system.Model", False, {})
    assert pipeline.root.dag is not None
    assert pipeline.root.dag.tasks["importer-2"].parameters == {
        "uri": ParameterInput(FromComponentInput("uri"))
    }
    assert pipeline.root.dag.tasks["train"].artifacts == {
        "data": ArtifactInput(FromTaskOutput("importer", "artifact"))
    }


def test_task_settings_retry_caching_resources_env(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["settings"])
    assert pipeline.root.dag is not None
    task = pipeline.root.dag.tasks["add"]
    assert task.display_name == "add with settings"
    assert task.retry == RetryPolicy(
        max_retry_count=3, backoff_seconds=3.0, backoff_factor=1.5, backoff_max_seconds=60.0
    )
    assert task.enable_cache is False
    executor = _container(pipeline, "exec-add")
    resources = executor.resources
    assert (resources.cpu_limit, resources.cpu_request) == (0.5, 0.25)
    assert (resources.memory_limit, resources.memory_request) == (1e9, 512 * 2**20)
    assert (resources.accelerator_type, resources.accelerator_count) == ("nvidia.com/gpu", 2)
    assert executor.env == {"MODE": "fast"}


def test_resources_image_and_constants_from_pipeline_parameters(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["settings"])
    executor = _container(pipeline, "exec-add-2")
    assert executor.image == "{{$.inputs.parameters['pipelinechannel--image']}}"
    assert executor.resources.cpu_limit == "{{$.inputs.parameters['pipelinechannel--cpu']}}"
    assert pipeline.root.dag is not None
    tasks = pipeline.root.dag.tasks
    # kfp feeds the placeholders through inputs the component does not declare.
    assert tasks["add-2"].parameters["pipelinechannel--cpu"] == ParameterInput(FromComponentInput("cpu"))
    assert tasks["add-2"].parameters["cpu_limit"] == ParameterInput(
        Constant("{{$.inputs.parameters['pipelinechannel--cpu']}}")
    )
    assert set(pipeline.components["comp-add-2"].inputs.parameters) == {"a", "b"}
    assert tasks["echo"].parameters == {
        "msg": ParameterInput(Constant("hello {{$.inputs.parameters['pipelinechannel--name']}}")),
        "pipelinechannel--name": ParameterInput(FromComponentInput("name")),
    }
    assert tasks["echo-2"].strategy is TriggerStrategy.ALL_UPSTREAM_TASKS_COMPLETED


def test_legacy_numeric_resources_are_cores_and_gigabytes(spec_of: SpecOf) -> None:
    spec = spec_of("settings")
    resources = spec["deploymentSpec"]["executors"]["exec-add"]["container"]["resources"]
    for key in [key for key in resources if key.startswith("resource")]:
        del resources[key]
    del resources["accelerator"]["resourceType"], resources["accelerator"]["resourceCount"]
    parsed = _container(parse_pipeline(spec), "exec-add").resources
    assert (parsed.cpu_limit, parsed.cpu_request, parsed.memory_limit) == (0.5, 0.25, 1e9)
    assert parsed.memory_request == pytest.approx(512 * 2**20)
    assert (parsed.accelerator_type, parsed.accelerator_count) == ("nvidia.com/gpu", 2)


def test_container_component_structured_placeholders(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["container"])
    executor = _container(pipeline, "exec-shell")
    assert executor.image == "alpine:3.20"
    assert executor.command == ("sh", "-c", {"Concat": ["echo ", "{{$.inputs.parameters['msg']}}"]})
    assert executor.args == (
        {"Concat": ["--msg=", "{{$.inputs.parameters['msg']}}"]},
        {
            "IfPresent": {
                "InputName": "flag",
                "Then": ["--flag", "{{$.inputs.parameters['flag']}}"],
                "Else": ["--no-flag"],
            }
        },
    )
    flag = pipeline.components["comp-shell"].inputs.parameters["flag"]
    assert (flag.optional, flag.has_default) == (True, False)
    assert pipeline.root.dag is not None
    assert "flag" not in pipeline.root.dag.tasks["shell"].parameters
    assert pipeline.root.dag.tasks["shell-2"].parameters["flag"] == ParameterInput(Constant("on"))


def test_structured_placeholder_given_as_object_equals_json_text(spec_of: SpecOf) -> None:
    spec = spec_of("container")
    container = spec["deploymentSpec"]["executors"]["exec-shell"]["container"]
    container["args"] = [json.loads(arg) for arg in container["args"]]
    assert (
        _container(parse_pipeline(spec), "exec-shell").args
        == _container(parse_pipeline(spec_of("container")), "exec-shell").args
    )


def test_json_text_that_is_not_a_placeholder_stays_a_string(spec_of: SpecOf) -> None:
    spec = spec_of("container")
    spec["deploymentSpec"]["executors"]["exec-shell"]["container"]["args"] = ['{"a": 1}', "{not json"]
    assert _container(parse_pipeline(spec), "exec-shell").args == ('{"a": 1}', "{not json")


def test_collected_artifacts_and_pipeline_outputs(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["collected-artifacts"])
    body = pipeline.components["comp-for-loop-2"]
    gathered = body.outputs.artifacts["pipelinechannel--produce-out"]
    assert (gathered.schema_title, gathered.is_list) == ("system.Dataset", True)
    assert body.dag is not None
    assert body.dag.artifact_outputs["pipelinechannel--produce-out"].sources == (
        FromTaskOutput("produce", "out"),
    )
    assert pipeline.components["comp-count"].inputs.artifacts["datasets"].is_list is True
    assert pipeline.root.outputs.artifacts["Output"].is_list is True
    assert pipeline.root.dag is not None
    assert pipeline.root.dag.artifact_outputs["Output"].sources == (
        FromTaskOutput("for-loop-2", "pipelinechannel--produce-out"),
    )
    assert pipeline.root.dag.tasks["count"].artifacts == {
        "datasets": ArtifactInput(FromTaskOutput("for-loop-2", "pipelinechannel--produce-out"))
    }


def test_artifact_iterator(spec_of: SpecOf) -> None:
    spec = spec_of("collected-artifacts")
    dataset = {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}
    spec["components"]["comp-for-each-dataset"] = {
        "inputDefinitions": {"artifacts": {"item": dataset, "all": {**dataset, "isArtifactList": True}}},
        "dag": {
            "tasks": {
                "train": {
                    "taskInfo": {"name": "train"},
                    "componentRef": {"name": "comp-train"},
                    "inputs": {"artifacts": {"data": {"componentInputArtifact": "item"}}},
                }
            }
        },
    }
    spec["root"]["dag"]["tasks"]["for-each"] = {
        "taskInfo": {"name": "for-each"},
        "componentRef": {"name": "comp-for-each-dataset"},
        "dependentTasks": ["for-loop-2"],
        "inputs": {
            "artifacts": {
                "all": {
                    "taskOutputArtifact": {
                        "producerTask": "for-loop-2",
                        "outputArtifactKey": "pipelinechannel--produce-out",
                    }
                }
            }
        },
        "artifactIterator": {"items": {"inputArtifact": "all"}, "itemInput": "item"},
        "iteratorPolicy": {"parallelismLimit": 1},
    }
    pipeline = parse_pipeline(spec)
    assert pipeline.root.dag is not None
    task = pipeline.root.dag.tasks["for-each"]
    assert task.iterator == ArtifactIterator(
        items=ArtifactInput(FromTaskOutput("for-loop-2", "pipelinechannel--produce-out")),
        item_input="item",
        items_input="all",
    )
    assert task.parallelism == 1
    assert task.enable_cache is False  # no cachingOptions: caching is off, as in KFP

"""Kubernetes platform options that take their value from the pipeline, resolved in the
scope of the task (the enclosing DAG's inputs, its siblings' outputs), as KFP's driver does.

The configs are written as kfp-kubernetes 2.17.3 writes them: `componentInputParameter`
names an input of the DAG the task is in (not an input of the task), `taskOutputParameter`
an output of a sibling, which is also made an upstream dependency of the task.
"""
# mypy: disable-error-code="untyped-decorator"

# No `from __future__ import annotations` here: kfp reads the components' annotations as types.

from typing import Any

import pytest
import yaml
from kfp import compiler, dsl

from services.core.pipeline.ir import parse_pipeline
from services.core.pipeline.model import JsonValue
from services.core.store.records import RuntimeState, TaskRecord
from services.scheduler.engine.platform import (
    PLATFORM_VALUES,
    platform_references,
    spec_key,
    with_platform_values,
)
from tests.services.scheduler.engine.harness import Harness


@dsl.component(base_image="python:3.12")
def produce() -> str:
    return "claim"


@dsl.component(base_image="python:3.12")
def train(x: str) -> str:
    return x


@dsl.pipeline
def inner(sec: str) -> None:
    train(x="b")


@dsl.pipeline
def scoped(secret: str = "db-credentials", selector: str = '{"disk": "ssd"}') -> None:
    claim = produce()
    train(x="a").after(claim)
    inner(sec=secret)
    with dsl.ParallelFor(["s1", "s2"]):
        train(x="c")


LOOP_ITEM = "pipelinechannel--loop-item-param-1"
"""The loop body's input kfp names for the item (what kfp-kubernetes refers to)."""


def secret_from(spec: dict[str, JsonValue]) -> dict[str, JsonValue]:
    return {
        "secretAsEnv": [
            {
                "secretNameParameter": spec,
                "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}],
                "optional": False,
            }
        ]
    }


TOP_LEVEL: dict[str, JsonValue] = {
    **secret_from({"componentInputParameter": "secret"}),
    "nodeSelector": {"nodeSelectorJson": {"componentInputParameter": "selector"}},
    "pvcMount": [
        {
            "mountPath": "/data",
            "pvcNameParameter": {
                "taskOutputParameter": {"producerTask": "produce", "outputParameterKey": "Output"}
            },
            "taskOutputParameter": {"producerTask": "produce", "outputParameterKey": "Output"},
        }
    ],
    "imagePullSecret": [
        {"secretName": "regcred", "secretNameParameter": {"runtimeValue": {"constant": "regcred"}}}
    ],
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("platform") / "scoped.yaml"
    compiler.Compiler().compile(scoped, str(path))
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def harness_for(spec: dict[str, Any], executors: dict[str, Any], **parameters: JsonValue) -> Harness:
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}
    return Harness(parse_pipeline(spec, platform), parameters)


def values_of(record: TaskRecord) -> dict[str, JsonValue]:
    values = record.scheduling[PLATFORM_VALUES]
    assert isinstance(values, dict)
    return values


def test_pipeline_parameters_and_sibling_outputs_are_resolved_when_the_task_starts(
    spec: dict[str, Any],
) -> None:
    harness = harness_for(spec, {"exec-train": TOP_LEVEL}, secret="team-db")
    harness.settle()
    assert "root/train" not in harness.tasks  # it waits for `produce`

    harness.finish("produce", outputs={"Output": "claim-7"})

    train_record = harness.tasks["root/train"]
    assert train_record.attempt == 1
    assert values_of(train_record) == {
        spec_key({"componentInputParameter": "secret"}): "team-db",
        spec_key({"componentInputParameter": "selector"}): '{"disk": "ssd"}',
        spec_key(
            {"taskOutputParameter": {"producerTask": "produce", "outputParameterKey": "Output"}}
        ): "claim-7",
    }
    assert "secret" not in train_record.input_parameters


def test_a_nested_pipelines_inputs_and_a_loops_items_are_the_scope_of_its_tasks(
    spec: dict[str, Any],
) -> None:
    harness = harness_for(
        spec,
        {
            "exec-train-2": secret_from({"componentInputParameter": "sec"}),
            "exec-train-2-2": secret_from({"componentInputParameter": LOOP_ITEM}),
        },
        secret="nested-db",
    )
    harness.settle()

    nested = harness.tasks["root/inner/train"]
    assert values_of(nested) == {spec_key({"componentInputParameter": "sec"}): "nested-db"}
    iterations = harness.named("train-2")
    assert [values_of(record)[spec_key({"componentInputParameter": LOOP_ITEM})] for record in iterations] == [
        "s1",
        "s2",
    ]


def test_an_option_naming_a_value_the_scope_lacks_fails_the_task(spec: dict[str, Any]) -> None:
    harness = harness_for(spec, {"exec-train-2": secret_from({"componentInputParameter": "missing"})})
    harness.settle()

    nested = harness.tasks["root/inner/train"]
    assert nested.state is RuntimeState.FAILED
    assert nested.attempt == 0
    assert nested.error is not None
    assert nested.error.message == (
        "Kubernetes option secretAsEnv[0].secretNameParameter of task 'train' takes its value from "
        "input 'missing' of the enclosing pipeline, which has none"
    )


def test_a_task_without_references_keeps_no_values(spec: dict[str, Any]) -> None:
    harness = harness_for(spec, {"exec-produce": {"imagePullPolicy": "Always"}})
    harness.settle()

    assert PLATFORM_VALUES not in harness.task("produce").scheduling


def test_references_are_found_wherever_the_config_has_them() -> None:
    references = platform_references(TOP_LEVEL)

    assert [(reference.where, reference.describe()) for reference in references] == [
        ("secretAsEnv[0].secretNameParameter", "input 'secret' of the enclosing pipeline"),
        ("nodeSelector.nodeSelectorJson", "input 'selector' of the enclosing pipeline"),
        ("pvcMount[0].pvcNameParameter", "output 'Output' of task 'produce'"),
    ]
    assert platform_references(None) == []


def test_resolved_specs_become_constants_and_the_rest_is_kept() -> None:
    values: dict[str, JsonValue] = {
        spec_key({"componentInputParameter": "secret"}): "team-db",
        spec_key(
            {"taskOutputParameter": {"producerTask": "produce", "outputParameterKey": "Output"}}
        ): "claim-7",
    }

    config = with_platform_values(TOP_LEVEL, values)

    assert config["secretAsEnv"] == secret_from({"runtimeValue": {"constant": "team-db"}})["secretAsEnv"]
    # Without a value: left for the executor, which fails the task naming it.
    assert config["nodeSelector"] == {"nodeSelectorJson": {"componentInputParameter": "selector"}}
    assert config["pvcMount"] == [
        {
            "mountPath": "/data",
            "pvcNameParameter": {"runtimeValue": {"constant": "claim-7"}},
            "taskOutputParameter": {"producerTask": "produce", "outputParameterKey": "Output"},
        }
    ]
    assert config["imagePullSecret"] == TOP_LEVEL["imagePullSecret"]
    assert TOP_LEVEL["secretAsEnv"] == secret_from({"componentInputParameter": "secret"})["secretAsEnv"]


def test_a_selector_applies_to_the_value(spec: dict[str, Any]) -> None:
    selected: dict[str, JsonValue] = {
        "componentInputParameter": "selector",
        "parameterExpressionSelector": "parseJson(string_value)['disk']",
    }
    harness = harness_for(spec, {"exec-train": secret_from(selected)})
    harness.settle()
    harness.finish("produce", outputs={"Output": "claim"})

    assert values_of(harness.tasks["root/train"]) == {spec_key(selected): "ssd"}

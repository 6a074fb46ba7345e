from __future__ import annotations

import pytest
from google.protobuf import json_format, struct_pb2
from sluice.v1 import common_pb2, tasks_pb2

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue, ParameterType
from services.core.protovalues import from_values_map, to_struct
from services.executor.convert import result_from_outcome, task_from_dispatch
from services.executor.task import (
    ArtifactInfo,
    AttemptOutcome,
    AttemptState,
    OutputArtifactSpec,
    TaskOutputs,
    TaskResources,
)
from tests.services.executor.kfp_ir import to_value


def dispatch() -> tasks_pb2.TaskDispatch:
    message = tasks_pb2.TaskDispatch(
        run_id="r",
        task_id="t",
        attempt=2,
        task_name="train",
        pipeline_name="p",
        run_display_name="my run",
        pipeline_root="s3://b/root",
        timeout_seconds=30,
        container=tasks_pb2.ContainerTask(
            image="python:3.11",
            command=["sh", "-c"],
            args=[to_value("--x"), to_value({"Concat": ["a", "b"]})],
            env=[tasks_pb2.EnvVar(name="A", value="1")],
        ),
    )
    message.input_parameters["n"].CopyFrom(to_value(3))
    message.input_parameter_types["n"] = "NUMBER_INTEGER"
    message.input_parameter_types["odd"] = "PARAMETER_TYPE_ENUM_UNSPECIFIED"
    message.input_artifacts["data"].artifacts.add(
        artifact_id="a1", uri="s3://b/data", schema_title="system.Dataset", metadata={"rows": 2}
    )
    message.output_parameters["out"].parameter_type = "LIST"
    message.output_artifacts["model"].CopyFrom(
        tasks_pb2.OutputArtifactSpec(uri="s3://b/m", schema_title="system.Model", schema_version="0.0.1")
    )
    return message


def test_task_from_dispatch() -> None:
    task = task_from_dispatch(dispatch())

    assert (task.run_id, task.task_id, task.attempt, task.task_name) == ("r", "t", 2, "train")
    assert (task.pipeline_name, task.run_display_name, task.pipeline_root) == ("p", "my run", "s3://b/root")
    assert (task.image, task.command, task.args) == (
        "python:3.11",
        ("sh", "-c"),
        ("--x", {"Concat": ["a", "b"]}),
    )
    assert task.env == {"A": "1"}
    assert task.input_parameters == {"n": 3}
    assert task.input_parameter_types == {"n": ParameterType.NUMBER_INTEGER}
    assert task.input_artifacts == {
        "data": (
            ArtifactInfo(
                name="data",
                uri="s3://b/data",
                schema_title="system.Dataset",
                metadata={"rows": 2},
                artifact_id="a1",
            ),
        )
    }
    assert task.output_parameters == {"out": ParameterType.LIST}
    assert task.output_artifacts == {
        "model": OutputArtifactSpec(uri="s3://b/m", schema_title="system.Model", schema_version="0.0.1")
    }
    assert task.timeout_seconds == 30
    assert task.resources == TaskResources()
    assert task.platform == {}


def test_resources_and_platform_config_reach_the_task() -> None:
    message = dispatch()
    message.container.resources.CopyFrom(
        tasks_pb2.Resources(
            cpu_limit=2,
            cpu_request=0.5,
            memory_limit=2**30,
            memory_request=2**28,
            accelerator_type="nvidia.com/gpu",
            accelerator_count=1,
        )
    )
    platform: dict[str, JsonValue] = {
        "secretAsEnv": [
            {
                "secretNameParameter": {"runtimeValue": {"constant": "db"}},
                "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}],
            }
        ],
        "activeDeadlineSeconds": "600",
    }
    message.platform.CopyFrom(to_struct(platform))

    task = task_from_dispatch(message)

    assert task.resources == TaskResources(
        cpu_limit=2,
        cpu_request=0.5,
        memory_limit=2**30,
        memory_request=2**28,
        accelerator_type="nvidia.com/gpu",
        accelerator_count=1,
    )
    assert task.platform == platform


@pytest.mark.parametrize("timeout", [0, -1, float("inf")])
def test_no_timeout(timeout: float) -> None:
    message = dispatch()
    message.timeout_seconds = timeout

    assert task_from_dispatch(message).timeout_seconds is None


def test_args_must_be_strings_or_structures() -> None:
    message = dispatch()
    message.container.args.append(struct_pb2.Value(number_value=1))

    with pytest.raises(InvalidArgument, match="container arg 2 must be a string or a structured placeholder"):
        task_from_dispatch(message)


def test_result_of_a_success() -> None:
    outcome = AttemptOutcome(
        state=AttemptState.SUCCEEDED,
        outputs=TaskOutputs(
            parameters={"out": [1, 2], "s": "x"},
            artifacts={
                "model": (
                    ArtifactInfo(
                        name="model", uri="s3://b/m", schema_title="system.Model", metadata={"acc": 0.5}
                    ),
                )
            },
        ),
        exit_code=0,
        log_path="/a/task.log",
    )

    result = result_from_outcome(dispatch(), outcome, log_uri="file:///a/task.log")

    assert (result.run_id, result.task_id, result.attempt) == ("r", "t", 2)
    assert result.state == common_pb2.SUCCEEDED
    assert not result.HasField("error")
    assert result.log_uri == "file:///a/task.log"
    assert result.time.seconds > 0
    assert from_values_map(result.output_parameters) == {
        "out": [1, 2],
        "s": "x",
    }
    (ref,) = result.output_artifacts["model"].artifacts
    assert (ref.name, ref.uri, ref.schema_title) == ("model", "s3://b/m", "system.Model")
    assert json_format.MessageToDict(ref.metadata) == {"acc": 0.5}


@pytest.mark.parametrize(
    ("state", "expected"),
    [(AttemptState.FAILED, common_pb2.FAILED), (AttemptState.CANCELED, common_pb2.CANCELED)],
)
def test_result_of_a_failure(state: AttemptState, expected: int) -> None:
    outcome = AttemptOutcome(state=state, error_code=2, error_message="boom", exit_code=None)

    result = result_from_outcome(dispatch(), outcome, log_uri="")

    assert result.state == expected
    assert (result.error.code, result.error.message, result.exit_code) == (2, "boom", 0)
    assert result.pod_name == ""


def test_the_pod_that_ran_the_attempt_is_reported() -> None:
    outcome = AttemptOutcome(
        state=AttemptState.FAILED, error_code=14, error_message="evicted", pod_name="p-1"
    )

    assert result_from_outcome(dispatch(), outcome, log_uri="").pod_name == "p-1"

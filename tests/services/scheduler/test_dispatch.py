"""What a task's dispatch carries: resources, env, time limit and platform options from a
kfp-compiled IR, even when the local launcher cannot enforce them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format

from services.core.pipeline.ir import parse_pipeline
from services.core.pipeline.model import JsonValue
from services.core.store.records import ArtifactRef, RuntimeState, TaskKind, TaskRecord
from services.scheduler.dispatch import build_dispatch, platform_config, timeout_of
from services.scheduler.engine.dag import advance
from services.scheduler.engine.platform import PLATFORM_VALUES, spec_key
from tests.e2e.kfp_control_flow import compile_all
from tests.services.scheduler.engine.harness import Harness


@pytest.fixture(scope="module")
def resources_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    path: Path = compile_all(tmp_path_factory.mktemp("dispatch"))["resources"]
    spec: dict[str, object] = yaml.safe_load(path.read_text())
    return spec


def test_resources_env_and_timeout_travel_with_the_task(resources_spec: dict[str, object]) -> None:
    # What kfp-kubernetes' `set_timeout(task, 90)` adds to the IR's platform document.
    platform = {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {"executors": {"exec-placeholders": {"activeDeadlineSeconds": "90"}}}
            }
        }
    }
    pipeline = parse_pipeline(resources_spec, platform)
    harness = Harness(pipeline)
    harness.settle()
    harness.report(harness.task("write-text"), RuntimeState.RUNNING)
    data = ArtifactRef(artifact_id="a1", name="data", uri="file:///tmp/data", schema_title="system.Dataset")
    harness.report(harness.task("write-text"), RuntimeState.SUCCEEDED, artifacts={"data": [data]})
    step = advance(pipeline, harness.run, list(harness.tasks.values()), harness.now)
    launches = {launch.task.display_name: launch for launch in step.launches}
    dispatch = build_dispatch(
        launch=launches["with-greeting"], run=harness.run, pipeline=pipeline, default_root="file:///tmp/root"
    )
    resources = dispatch.container.resources
    assert resources.cpu_limit == 2.0
    assert resources.cpu_request == 0.5
    assert resources.memory_limit == 1e9
    assert resources.memory_request == 256 * 1024**2
    assert resources.accelerator_type == "nvidia.com/gpu"
    assert resources.accelerator_count == 1
    assert {env.name: env.value for env in dispatch.container.env} == {"MODE": "test"}
    assert dispatch.timeout_seconds == 90.0
    assert dispatch.platform["activeDeadlineSeconds"] == "90"

    bare = build_dispatch(
        launch=launches["without-greeting"],
        run=harness.run,
        pipeline=pipeline,
        default_root="file:///tmp/root",
    )
    assert bare.timeout_seconds == 0.0
    assert bare.container.resources.cpu_limit == 0.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90.0), (30, 30.0), (1.5, 1.5), ("soon", 0.0), (-5, 0.0), (True, 0.0), (None, 0.0)],
)
def test_timeout_of_reads_active_deadline_seconds(value: object, seconds: float) -> None:
    assert timeout_of({"activeDeadlineSeconds": value}) == seconds  # type: ignore[dict-item]
    assert timeout_of(None) == 0.0


def test_platform_options_taken_from_the_pipeline_travel_as_constants(
    resources_spec: dict[str, object],
) -> None:
    # What kfp-kubernetes' `use_secret_as_env(task, secret_name=data_text, ...)` writes: the
    # name of an input of the pipeline, which is not an input of the task.
    secret_env = {
        "secretNameParameter": {"componentInputParameter": "data_text"},
        "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}],
        "optional": False,
    }
    executors = {"exec-placeholders": {"secretAsEnv": [secret_env]}}
    pipeline = parse_pipeline(
        resources_spec, {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}
    )
    harness = Harness(pipeline, {"data_text": "team-secret"})
    harness.settle()
    harness.report(harness.task("write-text"), RuntimeState.RUNNING)
    data = ArtifactRef(artifact_id="a1", name="data", uri="file:///tmp/data", schema_title="system.Dataset")
    harness.report(harness.task("write-text"), RuntimeState.SUCCEEDED, artifacts={"data": [data]})
    step = advance(pipeline, harness.run, list(harness.tasks.values()), harness.now)
    (launch,) = [launch for launch in step.launches if launch.task.display_name == "with-greeting"]

    dispatch = build_dispatch(
        launch=launch, run=harness.run, pipeline=pipeline, default_root="file:///tmp/root"
    )

    (sent,) = json_format.MessageToDict(dispatch.platform)["secretAsEnv"]
    assert sent == {**secret_env, "secretNameParameter": {"runtimeValue": {"constant": "team-secret"}}}
    assert "data_text" not in json_format.MessageToDict(dispatch)["inputParameters"]


def test_a_spec_without_a_resolved_value_is_left_for_the_executor() -> None:
    resolved: dict[str, JsonValue] = {"componentInputParameter": "secret"}
    unresolved: dict[str, JsonValue] = {"componentInputParameter": "elsewhere"}
    task = TaskRecord(
        task_id="t",
        run_id="r",
        path="root/t",
        name="t",
        display_name="t",
        kind=TaskKind.CONTAINER,
        create_time=datetime(2026, 1, 1, tzinfo=UTC),
        scheduling={PLATFORM_VALUES: {spec_key(resolved): "db"}},
    )
    config: dict[str, JsonValue] = {
        "secretAsVolume": [{"secretNameParameter": resolved, "mountPath": "/s"}],
        "configMapAsEnv": [{"configMapNameParameter": unresolved, "keyToEnv": []}],
    }

    assert platform_config(task, config) == {
        "secretAsVolume": [{"secretNameParameter": {"runtimeValue": {"constant": "db"}}, "mountPath": "/s"}],
        "configMapAsEnv": [{"configMapNameParameter": unresolved, "keyToEnv": []}],
    }

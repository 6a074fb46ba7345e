from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import struct_pb2
from sluice.v1 import common_pb2, recurring_runs_pb2

from services.core.pipeline.model import JsonValue
from services.core.store.records import (
    ArtifactRef,
    AttemptRecord,
    ErrorInfo,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RecurringRunStatus,
    RunRecord,
    RuntimeState,
    StateChange,
    StorageState,
    TaskKind,
    TaskRecord,
)
from services.scheduler.api import convert

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        3,
        -7,
        2.5,
        "text",
        "",
        [],
        {},
        [1, 4, [2, 3.5]],
        {"a": 1, "b": [True, None, {"c": "d", "e": 2**40}]},
    ],
)
def test_json_values_round_trip(value: JsonValue) -> None:
    assert convert.from_value(convert.to_value(value)) == value


def test_integral_numbers_come_back_as_ints() -> None:
    back = convert.from_value(convert.to_value([1, 2.0, 2.5, {"n": 3.0}]))
    assert back == [1, 2, 2.5, {"n": 3}]
    assert isinstance(back, list)
    assert [type(item) for item in back[:3]] == [int, int, float]


def test_huge_floats_stay_floats() -> None:
    assert isinstance(convert.from_value(convert.to_value(1e300)), float)


def test_empty_value_is_none_and_empty_containers_are_kept() -> None:
    assert convert.from_value(struct_pb2.Value()) is None
    assert convert.to_value([]).WhichOneof("kind") == "list_value"
    assert convert.to_value({}).WhichOneof("kind") == "struct_value"


def test_struct_round_trip() -> None:
    spec: dict[str, JsonValue] = {"pipelineInfo": {"name": "p"}, "retries": 2, "ratio": 0.5}
    assert convert.from_struct(convert.to_struct(spec)) == spec


def test_timestamps_are_aware_utc() -> None:
    other_zone = T0.astimezone(timezone(timedelta(hours=2)))
    timestamp = convert.to_timestamp(other_zone)
    assert timestamp is not None
    back = convert.from_timestamp(timestamp)
    assert back == T0
    assert back.tzinfo is UTC
    naive = convert.to_timestamp(T0.replace(tzinfo=None))
    assert naive is not None
    assert convert.from_timestamp(naive) == T0
    assert convert.to_timestamp(None) is None


def test_experiment_round_trip() -> None:
    record = ExperimentRecord(
        experiment_id="e1",
        display_name="exp",
        created_at=T0,
        description="d",
        namespace="ns",
        storage_state=StorageState.ARCHIVED,
        last_run_created_at=T0 + timedelta(minutes=1),
    )
    assert convert.experiment_from_proto(convert.experiment_to_proto(record)) == record


def test_experiment_without_last_run() -> None:
    record = ExperimentRecord(experiment_id="e1", display_name="exp", created_at=T0)
    message = convert.experiment_to_proto(record)
    assert not message.HasField("last_run_created_at")
    assert convert.experiment_from_proto(message) == record


def test_pipeline_and_version_round_trip() -> None:
    pipeline = PipelineRecord(
        pipeline_id="p1", name="n", display_name="N", created_at=T0, description="d", tags={"k": "v"}
    )
    assert convert.pipeline_from_proto(convert.pipeline_to_proto(pipeline)) == pipeline
    version = PipelineVersionRecord(
        pipeline_version_id="v1",
        pipeline_id="p1",
        name="v",
        display_name="V",
        created_at=T0,
        pipeline_spec={"pipelineInfo": {"name": "n"}, "root": {"dag": {"tasks": {}}}, "count": 3},
        package_url="file:///p.yaml",
        code_source_url="https://example.invalid/src",
        tags={"a": "b"},
    )
    back = convert.pipeline_version_from_proto(convert.pipeline_version_to_proto(version))
    assert back == version
    assert isinstance(back.pipeline_spec["count"], int)


def _run(**changes: object) -> RunRecord:
    run = RunRecord(
        run_id="r1",
        experiment_id="e1",
        display_name="run",
        created_at=T0,
        pipeline_spec={"pipelineInfo": {"name": "p"}},
        description="desc",
        parameters={"x": 3, "ratio": 0.25, "items": [1, 2], "flag": True, "name": "n"},
        pipeline_root="file:///tmp/root",
        service_account="sa",
        state=RuntimeState.FAILED,
        error=ErrorInfo(message="boom", code=13),
        scheduled_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=9),
        storage_state=StorageState.ARCHIVED,
        recurring_run_id="rr1",
        state_history=[
            StateChange(state=RuntimeState.PENDING, time=T0),
            StateChange(state=RuntimeState.FAILED, time=T0 + timedelta(seconds=9), error=ErrorInfo("boom")),
        ],
        disable_cache=True,
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def test_inline_run_round_trip() -> None:
    run = _run()
    message = convert.run_to_proto(run)
    assert message.HasField("pipeline_spec")
    assert not message.HasField("pipeline_version_reference")
    assert not message.HasField("run_details")
    back = convert.run_from_proto(message)
    assert back == run
    assert isinstance(back.parameters["x"], int)
    assert isinstance(back.parameters["ratio"], float)


def test_run_from_a_version_reports_the_reference() -> None:
    run = _run(pipeline_id="p1", pipeline_version_id="v1")
    message = convert.run_to_proto(run)
    assert not message.HasField("pipeline_spec")
    assert message.pipeline_version_reference.pipeline_version_id == "v1"
    back = convert.run_from_proto(message)
    assert (back.pipeline_id, back.pipeline_version_id) == ("p1", "v1")


def test_unspecified_proto_states_read_as_defaults() -> None:
    assert convert.from_runtime_state(common_pb2.RUNTIME_STATE_UNSPECIFIED) is RuntimeState.PENDING
    assert convert.from_storage_state(common_pb2.STORAGE_STATE_UNSPECIFIED) is StorageState.AVAILABLE
    for state in RuntimeState:
        assert convert.from_runtime_state(convert.to_runtime_state(state)) is state


def _task(task_id: str, *, parent: str = "", **changes: object) -> TaskRecord:
    task = TaskRecord(
        task_id=task_id,
        run_id="r1",
        path=f"root/{task_id}",
        name=task_id,
        display_name=task_id.upper(),
        kind=TaskKind.CONTAINER,
        create_time=T0,
        parent_task_id=parent,
        pod_name=f"pod-{task_id}",
    )
    for key, value in changes.items():
        setattr(task, key, value)
    return task


def test_task_details() -> None:
    artifact = ArtifactRef(artifact_id="a1", name="model", uri="file:///m", schema_title="system.Model")
    dag = _task("root", kind=TaskKind.DAG, pod_name="")
    train = _task(
        "train",
        parent="root",
        state=RuntimeState.SUCCEEDED,
        start_time=T0 + timedelta(seconds=1),
        end_time=T0 + timedelta(seconds=5),
        input_parameters={"epochs": 3, "lr": 0.1},
        output_parameters={"scores": [1, 2]},
        input_artifacts={"data": [artifact]},
        output_artifacts={"model": [artifact, artifact]},
        attempts=[
            AttemptRecord(attempt=0, state=RuntimeState.FAILED, error=ErrorInfo("oom"), exit_code=137),
            AttemptRecord(attempt=1, state=RuntimeState.SUCCEEDED, log_uri="file:///log", start_time=T0),
        ],
        state_history=[StateChange(RuntimeState.RUNNING, T0), StateChange(RuntimeState.SUCCEEDED, T0)],
        cached_from_task_id="old",
        log_uri="file:///log",
    )
    details = convert.task_details_to_proto([dag, train])
    assert [d.task_id for d in details] == ["root", "train"]
    root_detail, train_detail = details
    assert [(c.task_id, c.pod_name) for c in root_detail.child_tasks] == [("train", "pod-train")]
    assert root_detail.kind == "DAG"
    assert train_detail.parent_task_id == "root"
    assert train_detail.display_name == "TRAIN"
    assert train_detail.task_name == "train"
    assert train_detail.state == common_pb2.SUCCEEDED
    assert convert.from_timestamp(train_detail.end_time) == T0 + timedelta(seconds=5)
    assert not root_detail.HasField("start_time")
    assert list(train_detail.inputs["data"].artifact_ids) == ["a1"]
    assert list(train_detail.outputs["model"].artifact_ids) == ["a1", "a1"]
    assert convert.from_value_map(train_detail.input_parameters) == {"epochs": 3, "lr": 0.1}
    assert convert.from_value_map(train_detail.output_parameters) == {"scores": [1, 2]}
    assert [(a.attempt, a.exit_code, a.error.message) for a in train_detail.attempts] == [
        (0, 137, "oom"),
        (1, 0, ""),
    ]
    assert train_detail.attempts[1].log_uri == "file:///log"
    assert [s.state for s in train_detail.state_history] == [common_pb2.RUNNING, common_pb2.SUCCEEDED]
    assert train_detail.cached_from_task_id == "old"
    assert train_detail.pod_name == "pod-train"
    assert train_detail.log_uri == "file:///log"


def _recurring_run(**changes: object) -> RecurringRunRecord:
    record = RecurringRunRecord(
        recurring_run_id="rr1",
        display_name="nightly",
        created_at=T0,
        updated_at=T0 + timedelta(hours=1),
        pipeline_spec={"pipelineInfo": {"name": "p"}},
        description="d",
        namespace="ns",
        experiment_id="e1",
        parameters={"x": 1},
        pipeline_root="file:///root",
        service_account="sa",
        max_concurrency=3,
        cron="0 0 * * * *",
        start_time=T0,
        end_time=T0 + timedelta(days=1),
        no_catchup=True,
        status=RecurringRunStatus.DISABLED,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def test_recurring_run_with_cron_round_trip() -> None:
    record = _recurring_run()
    message = convert.recurring_run_to_proto(record)
    assert message.trigger.WhichOneof("trigger") == "cron_schedule"
    assert message.mode == recurring_runs_pb2.RecurringRun.DISABLE
    assert message.status == recurring_runs_pb2.RecurringRun.DISABLED
    assert convert.recurring_run_from_proto(message) == record


def test_recurring_run_with_interval_round_trip() -> None:
    record = _recurring_run(
        cron="",
        interval_seconds=90,
        start_time=None,
        end_time=None,
        status=RecurringRunStatus.ENABLED,
        pipeline_id="p1",
        pipeline_version_id="v1",
    )
    message = convert.recurring_run_to_proto(record)
    assert message.trigger.periodic_schedule.interval_second == 90
    assert not message.trigger.periodic_schedule.HasField("start_time")
    assert message.status == recurring_runs_pb2.RecurringRun.ENABLED
    assert not message.HasField("pipeline_spec")
    # A version reference is reported instead of the (copied) spec.
    assert convert.recurring_run_from_proto(message) == dataclasses.replace(record, pipeline_spec={})


def test_mode_decides_the_status_on_the_way_in() -> None:
    RecurringRun = recurring_runs_pb2.RecurringRun
    assert convert.status_of_mode(RecurringRun.MODE_UNSPECIFIED) is RecurringRunStatus.ENABLED
    assert convert.status_of_mode(RecurringRun.ENABLE) is RecurringRunStatus.ENABLED
    assert convert.status_of_mode(RecurringRun.DISABLE) is RecurringRunStatus.DISABLED

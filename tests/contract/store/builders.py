"""Records for store tests: unique ids, times relative to one instant, and `full_*` records
with every field set to a non-default value (nested records and JSON of every shape)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.core.pipeline.model import JsonValue
from services.core.store.records import (
    ArtifactRecord,
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

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

SPEC: dict[str, JsonValue] = {
    "pipelineInfo": {"name": "p"},
    "root": {"dag": {"tasks": {}}},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.14.0",
}
JSON: dict[str, JsonValue] = {
    "int": 7,
    "float": 0.5,
    "whole_float": 2.0,
    "negative": -3,
    "text": "héllo ✓",
    "flag": True,
    "nothing": None,
    "list": [1, 2.5, "x", None, [False], {"k": []}],
    "nested": {"a": {"b": {"c": [1, {"d": 1e-9}]}}},
}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def experiment(*, created: float = 0, **changes: Any) -> ExperimentRecord:
    record = ExperimentRecord(
        experiment_id=new_id("exp"), display_name=new_id("name"), created_at=at(created)
    )
    return dataclasses.replace(record, **changes)


def pipeline(*, created: float = 0, **changes: Any) -> PipelineRecord:
    name = new_id("pipeline")
    record = PipelineRecord(pipeline_id=new_id("pl"), name=name, display_name=name, created_at=at(created))
    return dataclasses.replace(record, **changes)


def version(pipeline_id: str, *, created: float = 0, **changes: Any) -> PipelineVersionRecord:
    name = new_id("version")
    record = PipelineVersionRecord(
        pipeline_version_id=new_id("pv"),
        pipeline_id=pipeline_id,
        name=name,
        display_name=name,
        created_at=at(created),
        pipeline_spec=SPEC,
    )
    return dataclasses.replace(record, **changes)


def run(*, created: float = 0, experiment_id: str = "exp-default", **changes: Any) -> RunRecord:
    record = RunRecord(
        run_id=new_id("run"),
        experiment_id=experiment_id,
        display_name=new_id("run name"),
        created_at=at(created),
        pipeline_spec=SPEC,
    )
    return dataclasses.replace(record, **changes)


def task(run_id: str, *, path: str = "", created: float = 0, **changes: Any) -> TaskRecord:
    path = path or f"root/{new_id('t')}"
    record = TaskRecord(
        task_id=new_id("task"),
        run_id=run_id,
        path=path,
        name=path.rsplit("/", 1)[-1],
        display_name=path.rsplit("/", 1)[-1],
        kind=TaskKind.CONTAINER,
        create_time=at(created),
    )
    return dataclasses.replace(record, **changes)


def recurring_run(*, created: float = 0, **changes: Any) -> RecurringRunRecord:
    record = RecurringRunRecord(
        recurring_run_id=new_id("rr"),
        display_name=new_id("schedule"),
        created_at=at(created),
        updated_at=at(created),
        pipeline_spec=SPEC,
        cron="0 0 * * * *",
    )
    return dataclasses.replace(record, **changes)


def artifact(*, created: float = 0, **changes: Any) -> ArtifactRecord:
    artifact_id = new_id("art")
    record = ArtifactRecord(
        artifact_id=artifact_id,
        name=new_id("model"),
        uri=f"file:///data/artifacts/{artifact_id}",
        schema_title="system.Model",
        created_at=at(created),
    )
    return dataclasses.replace(record, **changes)


# --- every field set ----------------------------------------------------------------------

_ERROR = ErrorInfo(message="boom: exit code 3", code=13)


def _ref(name: str) -> ArtifactRef:
    return ArtifactRef(
        artifact_id=new_id("art"),
        name=name,
        uri=f"file:///data/{name}",
        schema_title="system.Dataset",
        schema_version="0.0.2",
        metadata=JSON,
    )


def _history() -> list[StateChange]:
    return [
        StateChange(state=RuntimeState.PENDING, time=at(1)),
        StateChange(state=RuntimeState.RUNNING, time=at(2.000001)),
        StateChange(state=RuntimeState.FAILED, time=at(3.5), error=_ERROR),
    ]


def full_experiment() -> ExperimentRecord:
    return ExperimentRecord(
        experiment_id=new_id("exp"),
        display_name=new_id("name"),
        created_at=at(0.123456),
        description="all fields",
        namespace="team-a",
        storage_state=StorageState.ARCHIVED,
        last_run_created_at=at(60),
        webhook_url="http://127.0.0.1:9/experiment-finished",
    )


def full_pipeline() -> PipelineRecord:
    return PipelineRecord(
        pipeline_id=new_id("pl"),
        name=new_id("pipeline"),
        display_name="Pipeline ✓",
        created_at=at(1.5),
        description="all fields",
        namespace="team-a",
        tags={"owner": "ml", "tier": "gold"},
    )


def full_version(pipeline_id: str) -> PipelineVersionRecord:
    return PipelineVersionRecord(
        pipeline_version_id=new_id("pv"),
        pipeline_id=pipeline_id,
        name=new_id("version"),
        display_name="v1 ✓",
        created_at=at(2.25),
        pipeline_spec={**SPEC, "platform_spec": JSON},
        description="all fields",
        package_url="https://example.invalid/pipeline.yaml",
        code_source_url="https://example.invalid/src",
        tags={"stage": "prod"},
    )


def full_run() -> RunRecord:
    return RunRecord(
        run_id=new_id("run"),
        experiment_id=new_id("exp"),
        display_name="run ✓",
        created_at=at(0.5),
        pipeline_spec={**SPEC, "extra": JSON},
        description="all fields",
        namespace="team-a",
        pipeline_id=new_id("pl"),
        pipeline_version_id=new_id("pv"),
        parameters=JSON,
        pipeline_root="file:///data/root",
        service_account="runner",
        state=RuntimeState.FAILED,
        error=_ERROR,
        scheduled_at=at(0.25),
        finished_at=at(99.999999),
        storage_state=StorageState.ARCHIVED,
        recurring_run_id=new_id("rr"),
        state_history=_history(),
        disable_cache=True,
        metrics={"accuracy": 0.91, "loss": 1e-9, "epochs": 12.0},
        version=4,
    )


def full_task(run_id: str) -> TaskRecord:
    return TaskRecord(
        task_id=new_id("task"),
        run_id=run_id,
        path="root/for-loop-2/1/train",
        name="train",
        display_name="Train ✓",
        kind=TaskKind.ITERATION,
        create_time=at(3),
        parent_task_id=new_id("task"),
        state=RuntimeState.SUCCEEDED,
        start_time=at(4),
        end_time=at(5.000001),
        error=_ERROR,
        input_parameters=JSON,
        input_artifacts={"data": [_ref("a"), _ref("b")], "empty": []},
        output_parameters={"accuracy": 0.93, "epochs": 3, "tags": ["x", "y"]},
        output_artifacts={"model": [_ref("model")]},
        attempt=2,
        attempts=[
            AttemptRecord(
                attempt=1,
                state=RuntimeState.FAILED,
                start_time=at(4),
                end_time=at(4.5),
                error=_ERROR,
                log_uri="file:///logs/1",
                exit_code=3,
                executor_id="exec-1",
            ),
            AttemptRecord(attempt=2, state=RuntimeState.SUCCEEDED, start_time=at(4.6), exit_code=0),
        ],
        state_history=_history(),
        cached_from_task_id=new_id("task"),
        fingerprint="sha256:abc",
        log_uri="file:///logs/2",
        pod_name="pod-2",
        iteration_index=1,
        scheduling={"retry_due_at": "2024-05-01T12:00:10Z", "backoff": 2.5},
        version=9,
    )


def full_recurring_run() -> RecurringRunRecord:
    return RecurringRunRecord(
        recurring_run_id=new_id("rr"),
        display_name="nightly ✓",
        created_at=at(1),
        updated_at=at(2),
        pipeline_spec=SPEC,
        description="all fields",
        namespace="team-a",
        experiment_id=new_id("exp"),
        pipeline_id=new_id("pl"),
        pipeline_version_id=new_id("pv"),
        parameters=JSON,
        pipeline_root="file:///data/root",
        service_account="runner",
        max_concurrency=3,
        # Both triggers set: the store keeps what it is given (one trigger is the API's rule).
        cron="0 30 2 * * *",
        interval_seconds=3600,
        start_time=at(10),
        end_time=at(86400),
        no_catchup=True,
        status=RecurringRunStatus.DISABLED,
        last_fired_at=at(3600),
        webhook_url="http://127.0.0.1:9/recurring-finished",
        version=2,
    )


def full_artifact() -> ArtifactRecord:
    return ArtifactRecord(
        artifact_id=new_id("art"),
        name="model",
        uri="file:///data/model",
        schema_title="system.Model",
        created_at=at(7),
        schema_version="0.0.2",
        metadata=JSON,
        run_id=new_id("run"),
        task_id=new_id("task"),
        output_key="model",
        size_bytes=1 << 40,
    )

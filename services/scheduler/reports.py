"""Executor results (protobuf, at the edge) → the engine's `AttemptReport`."""

from __future__ import annotations

from sluice.v1 import common_pb2, tasks_pb2

from services.core.protovalues import from_struct, from_timestamp, from_values_map, utc_now
from services.core.store.records import ArtifactRef, ErrorInfo, RuntimeState
from services.scheduler.engine.results import AttemptReport


def artifact_from_proto(message: tasks_pb2.ArtifactRef) -> ArtifactRef:
    return ArtifactRef(
        artifact_id=message.artifact_id,
        name=message.name,
        uri=message.uri,
        schema_title=message.schema_title,
        schema_version=message.schema_version or "0.0.1",
        metadata=from_struct(message.metadata),
    )


def report_from_result(result: tasks_pb2.TaskResult) -> AttemptReport:
    error = None
    if result.HasField("error") and (result.error.message or result.error.code):
        error = ErrorInfo(message=result.error.message, code=result.error.code or 2)
    return AttemptReport(
        task_id=result.task_id,
        attempt=result.attempt,
        state=RuntimeState(common_pb2.RuntimeState.Name(result.state)),
        time=from_timestamp(result.time) or utc_now(),
        output_parameters=from_values_map(result.output_parameters),
        output_artifacts={
            name: [artifact_from_proto(a) for a in artifacts.artifacts]
            for name, artifacts in result.output_artifacts.items()
        },
        error=error,
        log_uri=result.log_uri,
        exit_code=result.exit_code if result.state != common_pb2.RUNNING else None,
        executor_id=result.executor_id,
        pod_name=result.pod_name,
    )

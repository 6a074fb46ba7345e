"""Store records ⇄ `sluice.v1` protobuf messages.

Numbers: protobuf `Value`s are doubles, so an integral number read from protobuf comes
back as an `int` (3.0 → 3), which keeps `List[int]` parameters and spec fields integral.
Timestamps: records hold aware UTC datetimes (a naive one is taken to be UTC); an unset
protobuf timestamp is `None`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message
from sluice.v1 import (
    common_pb2,
    experiments_pb2,
    pipelines_pb2,
    recurring_runs_pb2,
    runs_pb2,
)

from services.core import protovalues
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
    TaskRecord,
)

# --- JSON values: one implementation for every edge, in services.core.protovalues ----------

from_struct = protovalues.from_struct
from_value = protovalues.from_value
from_value_map = protovalues.from_values_map
to_struct = protovalues.to_struct
to_value = protovalues.to_value
to_value_map = protovalues.values_map


# --- timestamps, enums, errors ----------------------------------------------------------


def to_timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf `Timestamp`, or None (field left unset) for None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def from_timestamp(message: timestamp_pb2.Timestamp) -> datetime:
    """An aware UTC datetime."""
    return message.ToDatetime(tzinfo=UTC)


def _timestamp_field(message: Message, field: str) -> datetime | None:
    """The aware datetime in a message's timestamp field, None when unset."""
    if not message.HasField(field):
        return None
    value = getattr(message, field)
    assert isinstance(value, timestamp_pb2.Timestamp)
    return from_timestamp(value)


def to_runtime_state(state: RuntimeState) -> common_pb2.RuntimeState.ValueType:
    return common_pb2.RuntimeState.Value(state.value)


def from_runtime_state(state: common_pb2.RuntimeState.ValueType) -> RuntimeState:
    """The record state; an unspecified state is PENDING (nothing has happened yet)."""
    if state == common_pb2.RUNTIME_STATE_UNSPECIFIED:
        return RuntimeState.PENDING
    return RuntimeState(common_pb2.RuntimeState.Name(state))


def to_storage_state(state: StorageState) -> common_pb2.StorageState.ValueType:
    return common_pb2.StorageState.Value(state.value)


def from_storage_state(state: common_pb2.StorageState.ValueType) -> StorageState:
    if state == common_pb2.ARCHIVED:
        return StorageState.ARCHIVED
    return StorageState.AVAILABLE


def to_status(error: ErrorInfo | None) -> common_pb2.Status | None:
    if error is None:
        return None
    return common_pb2.Status(code=error.code, message=error.message)


def from_status(message: Message, field: str = "error") -> ErrorInfo | None:
    """The error in a message's `Status` field, None when unset."""
    if not message.HasField(field):
        return None
    status = getattr(message, field)
    assert isinstance(status, common_pb2.Status)
    return ErrorInfo(message=status.message, code=status.code)


def to_runtime_statuses(history: Iterable[StateChange]) -> list[common_pb2.RuntimeStatus]:
    return [
        common_pb2.RuntimeStatus(
            update_time=to_timestamp(change.time),
            state=to_runtime_state(change.state),
            error=to_status(change.error),
        )
        for change in history
    ]


def from_runtime_statuses(history: Iterable[common_pb2.RuntimeStatus]) -> list[StateChange]:
    return [
        StateChange(
            state=from_runtime_state(status.state),
            time=_timestamp_field(status, "update_time") or datetime.fromtimestamp(0, UTC),
            error=from_status(status),
        )
        for status in history
    ]


# --- experiments ----------------------------------------------------------------------


def experiment_to_proto(record: ExperimentRecord) -> experiments_pb2.Experiment:
    return experiments_pb2.Experiment(
        experiment_id=record.experiment_id,
        display_name=record.display_name,
        description=record.description,
        created_at=to_timestamp(record.created_at),
        namespace=record.namespace,
        storage_state=to_storage_state(record.storage_state),
        last_run_created_at=to_timestamp(record.last_run_created_at),
        webhook_url=record.webhook_url,
    )


def experiment_from_proto(message: experiments_pb2.Experiment) -> ExperimentRecord:
    return ExperimentRecord(
        experiment_id=message.experiment_id,
        display_name=message.display_name,
        created_at=_timestamp_field(message, "created_at") or datetime.now(UTC),
        description=message.description,
        namespace=message.namespace,
        storage_state=from_storage_state(message.storage_state),
        last_run_created_at=_timestamp_field(message, "last_run_created_at"),
        webhook_url=message.webhook_url,
    )


# --- pipelines and versions ------------------------------------------------------------


def pipeline_to_proto(record: PipelineRecord) -> pipelines_pb2.Pipeline:
    return pipelines_pb2.Pipeline(
        pipeline_id=record.pipeline_id,
        display_name=record.display_name,
        name=record.name,
        description=record.description,
        created_at=to_timestamp(record.created_at),
        namespace=record.namespace,
        tags=record.tags,
    )


def pipeline_from_proto(message: pipelines_pb2.Pipeline) -> PipelineRecord:
    return PipelineRecord(
        pipeline_id=message.pipeline_id,
        name=message.name,
        display_name=message.display_name,
        created_at=_timestamp_field(message, "created_at") or datetime.now(UTC),
        description=message.description,
        namespace=message.namespace,
        tags=dict(message.tags),
    )


def pipeline_version_to_proto(record: PipelineVersionRecord) -> pipelines_pb2.PipelineVersion:
    return pipelines_pb2.PipelineVersion(
        pipeline_id=record.pipeline_id,
        pipeline_version_id=record.pipeline_version_id,
        display_name=record.display_name,
        name=record.name,
        description=record.description,
        created_at=to_timestamp(record.created_at),
        package_url=pipelines_pb2.Url(pipeline_url=record.package_url) if record.package_url else None,
        code_source_url=record.code_source_url,
        pipeline_spec=to_struct(record.pipeline_spec),
        tags=record.tags,
    )


def pipeline_version_from_proto(message: pipelines_pb2.PipelineVersion) -> PipelineVersionRecord:
    return PipelineVersionRecord(
        pipeline_version_id=message.pipeline_version_id,
        pipeline_id=message.pipeline_id,
        name=message.name,
        display_name=message.display_name,
        created_at=_timestamp_field(message, "created_at") or datetime.now(UTC),
        pipeline_spec=from_struct(message.pipeline_spec),
        description=message.description,
        package_url=message.package_url.pipeline_url,
        code_source_url=message.code_source_url,
        tags=dict(message.tags),
    )


# --- runs and tasks ----------------------------------------------------------------------


def _pipeline_source(
    *, spec: Mapping[str, JsonValue], pipeline_id: str, pipeline_version_id: str
) -> tuple[struct_pb2.Struct | None, runs_pb2.PipelineVersionReference | None]:
    """As KFP reports it: the version reference when the run came from a stored version,
    the inline spec otherwise."""
    if pipeline_id or pipeline_version_id:
        reference = runs_pb2.PipelineVersionReference(
            pipeline_id=pipeline_id, pipeline_version_id=pipeline_version_id
        )
        return None, reference
    return to_struct(spec), None


def run_to_proto(record: RunRecord, *, tasks: Sequence[TaskRecord] | None = None) -> runs_pb2.Run:
    """A run; `run_details.task_details` is filled when `tasks` is given."""
    spec, reference = _pipeline_source(
        spec=record.pipeline_spec,
        pipeline_id=record.pipeline_id,
        pipeline_version_id=record.pipeline_version_id,
    )
    details = None if tasks is None else runs_pb2.RunDetails(task_details=task_details_to_proto(tasks))
    return runs_pb2.Run(
        experiment_id=record.experiment_id,
        run_id=record.run_id,
        display_name=record.display_name,
        storage_state=to_storage_state(record.storage_state),
        description=record.description,
        pipeline_spec=spec,
        pipeline_version_reference=reference,
        runtime_config=runs_pb2.RuntimeConfig(
            parameters=to_value_map(record.parameters), pipeline_root=record.pipeline_root
        ),
        service_account=record.service_account,
        created_at=to_timestamp(record.created_at),
        scheduled_at=to_timestamp(record.scheduled_at),
        finished_at=to_timestamp(record.finished_at),
        state=to_runtime_state(record.state),
        error=to_status(record.error),
        run_details=details,
        recurring_run_id=record.recurring_run_id,
        state_history=to_runtime_statuses(record.state_history),
        disable_cache=record.disable_cache,
        metrics=record.metrics,
    )


def run_from_proto(message: runs_pb2.Run) -> RunRecord:
    """The run record a message describes, as given (no validation, no defaults applied
    beyond the record's own)."""
    reference = message.pipeline_version_reference
    return RunRecord(
        run_id=message.run_id,
        experiment_id=message.experiment_id,
        display_name=message.display_name,
        created_at=_timestamp_field(message, "created_at") or datetime.now(UTC),
        pipeline_spec=from_struct(message.pipeline_spec),
        description=message.description,
        pipeline_id=reference.pipeline_id,
        pipeline_version_id=reference.pipeline_version_id,
        parameters=from_value_map(message.runtime_config.parameters),
        pipeline_root=message.runtime_config.pipeline_root,
        service_account=message.service_account,
        state=from_runtime_state(message.state),
        error=from_status(message),
        scheduled_at=_timestamp_field(message, "scheduled_at"),
        finished_at=_timestamp_field(message, "finished_at"),
        storage_state=from_storage_state(message.storage_state),
        recurring_run_id=message.recurring_run_id,
        state_history=from_runtime_statuses(message.state_history),
        disable_cache=message.disable_cache,
    )


def task_details_to_proto(tasks: Sequence[TaskRecord]) -> list[runs_pb2.PipelineTaskDetail]:
    """Task details in the order given, each with its `child_tasks` from the others."""
    children: dict[str, list[runs_pb2.ChildTask]] = {}
    for task in tasks:
        if task.parent_task_id:
            children.setdefault(task.parent_task_id, []).append(
                runs_pb2.ChildTask(task_id=task.task_id, pod_name=task.pod_name)
            )
    return [task_detail_to_proto(task, children=children.get(task.task_id, ())) for task in tasks]


def task_detail_to_proto(
    task: TaskRecord, *, children: Iterable[runs_pb2.ChildTask] = ()
) -> runs_pb2.PipelineTaskDetail:
    return runs_pb2.PipelineTaskDetail(
        run_id=task.run_id,
        task_id=task.task_id,
        display_name=task.display_name,
        create_time=to_timestamp(task.create_time),
        start_time=to_timestamp(task.start_time),
        end_time=to_timestamp(task.end_time),
        state=to_runtime_state(task.state),
        error=to_status(task.error),
        inputs=_artifact_lists(task.input_artifacts),
        outputs=_artifact_lists(task.output_artifacts),
        parent_task_id=task.parent_task_id,
        state_history=to_runtime_statuses(task.state_history),
        pod_name=task.pod_name,
        child_tasks=children,
        input_parameters=to_value_map(task.input_parameters),
        output_parameters=to_value_map(task.output_parameters),
        task_name=task.name,
        kind=task.kind.value,
        attempts=[_attempt_to_proto(attempt) for attempt in task.attempts],
        cached_from_task_id=task.cached_from_task_id,
        log_uri=task.log_uri,
    )


def _artifact_lists(artifacts: Mapping[str, Sequence[ArtifactRef]]) -> dict[str, runs_pb2.ArtifactList]:
    return {
        name: runs_pb2.ArtifactList(artifact_ids=[ref.artifact_id for ref in refs])
        for name, refs in artifacts.items()
    }


def _attempt_to_proto(attempt: AttemptRecord) -> runs_pb2.TaskAttempt:
    return runs_pb2.TaskAttempt(
        attempt=attempt.attempt,
        state=to_runtime_state(attempt.state),
        start_time=to_timestamp(attempt.start_time),
        end_time=to_timestamp(attempt.end_time),
        error=to_status(attempt.error),
        log_uri=attempt.log_uri,
        exit_code=attempt.exit_code or 0,
    )


# --- recurring runs ----------------------------------------------------------------------

_MODE_OF_STATUS = {
    RecurringRunStatus.ENABLED: recurring_runs_pb2.RecurringRun.ENABLE,
    RecurringRunStatus.DISABLED: recurring_runs_pb2.RecurringRun.DISABLE,
}
_STATUS_TO_PROTO = {
    RecurringRunStatus.ENABLED: recurring_runs_pb2.RecurringRun.ENABLED,
    RecurringRunStatus.DISABLED: recurring_runs_pb2.RecurringRun.DISABLED,
}


def status_of_mode(mode: recurring_runs_pb2.RecurringRun.Mode.ValueType) -> RecurringRunStatus:
    """KFP's `mode` on create: DISABLE creates a disabled recurring run; ENABLE or unset an
    enabled one."""
    if mode == recurring_runs_pb2.RecurringRun.DISABLE:
        return RecurringRunStatus.DISABLED
    return RecurringRunStatus.ENABLED


def trigger_to_proto(record: RecurringRunRecord) -> recurring_runs_pb2.Trigger:
    start, end = to_timestamp(record.start_time), to_timestamp(record.end_time)
    if record.cron:
        return recurring_runs_pb2.Trigger(
            cron_schedule=recurring_runs_pb2.CronSchedule(start_time=start, end_time=end, cron=record.cron)
        )
    return recurring_runs_pb2.Trigger(
        periodic_schedule=recurring_runs_pb2.PeriodicSchedule(
            start_time=start, end_time=end, interval_second=record.interval_seconds
        )
    )


def recurring_run_to_proto(record: RecurringRunRecord) -> recurring_runs_pb2.RecurringRun:
    spec, reference = _pipeline_source(
        spec=record.pipeline_spec,
        pipeline_id=record.pipeline_id,
        pipeline_version_id=record.pipeline_version_id,
    )
    return recurring_runs_pb2.RecurringRun(
        recurring_run_id=record.recurring_run_id,
        display_name=record.display_name,
        description=record.description,
        pipeline_version_reference=reference,
        pipeline_spec=spec,
        runtime_config=runs_pb2.RuntimeConfig(
            parameters=to_value_map(record.parameters), pipeline_root=record.pipeline_root
        ),
        service_account=record.service_account,
        max_concurrency=record.max_concurrency,
        trigger=trigger_to_proto(record),
        mode=_MODE_OF_STATUS[record.status],
        created_at=to_timestamp(record.created_at),
        updated_at=to_timestamp(record.updated_at),
        status=_STATUS_TO_PROTO[record.status],
        no_catchup=record.no_catchup,
        namespace=record.namespace,
        experiment_id=record.experiment_id,
        webhook_url=record.webhook_url,
    )


def recurring_run_from_proto(message: recurring_runs_pb2.RecurringRun) -> RecurringRunRecord:
    """The record a message describes, as given; the status follows `mode` (KFP sets the
    mode on create and reports the status)."""
    now = datetime.now(UTC)
    trigger = message.trigger
    which = trigger.WhichOneof("trigger")
    schedule: recurring_runs_pb2.CronSchedule | recurring_runs_pb2.PeriodicSchedule | None = None
    cron, interval = "", 0
    if which == "cron_schedule":
        schedule = trigger.cron_schedule
        cron = schedule.cron
    elif which == "periodic_schedule":
        schedule = trigger.periodic_schedule
        interval = schedule.interval_second
    reference = message.pipeline_version_reference
    return RecurringRunRecord(
        recurring_run_id=message.recurring_run_id,
        display_name=message.display_name,
        created_at=_timestamp_field(message, "created_at") or now,
        updated_at=_timestamp_field(message, "updated_at") or now,
        pipeline_spec=from_struct(message.pipeline_spec),
        description=message.description,
        namespace=message.namespace,
        experiment_id=message.experiment_id,
        pipeline_id=reference.pipeline_id,
        pipeline_version_id=reference.pipeline_version_id,
        parameters=from_value_map(message.runtime_config.parameters),
        pipeline_root=message.runtime_config.pipeline_root,
        service_account=message.service_account,
        max_concurrency=message.max_concurrency,
        cron=cron,
        interval_seconds=interval,
        start_time=None if schedule is None else _timestamp_field(schedule, "start_time"),
        end_time=None if schedule is None else _timestamp_field(schedule, "end_time"),
        no_catchup=message.no_catchup,
        status=status_of_mode(message.mode),
        webhook_url=message.webhook_url,
    )

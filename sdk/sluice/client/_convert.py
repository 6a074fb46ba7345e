"""The protobuf JSON both transports produce (snake_case names, enum names, RFC 3339
times, 64-bit integers as strings) → the client's dataclasses."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sluice.client.models import (
    Artifact,
    ErrorInfo,
    EventKind,
    Experiment,
    Page,
    Pipeline,
    PipelineVersion,
    PipelineVersionReference,
    RecurringRun,
    Run,
    RunEvent,
    RunState,
    StorageState,
    Task,
    TaskAttempt,
)

Json = Mapping[str, Any]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# Python before 3.12 reads at most six digits of a second's fraction; protobuf writes nine.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00"))


def _enum(kind: type[E], value: Any, default: E) -> E:
    try:
        return kind(value)
    except ValueError:
        return default


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _error(value: Any) -> ErrorInfo | None:
    if not value:
        return None
    return ErrorInfo(code=_int(value.get("code")), message=str(value.get("message", "")))


def _state(value: Any) -> RunState:
    return _enum(RunState, value, RunState.UNSPECIFIED)


def _storage(value: Any) -> StorageState:
    return _enum(StorageState, value, StorageState.UNSPECIFIED)


def _artifact_ids(value: Any) -> dict[str, tuple[str, ...]]:
    return {name: tuple(entry.get("artifact_ids", ())) for name, entry in (value or {}).items()}


def _version_reference(value: Any) -> PipelineVersionReference | None:
    if not value or not value.get("pipeline_id"):
        return None
    return PipelineVersionReference(
        pipeline_id=value["pipeline_id"], pipeline_version_id=value.get("pipeline_version_id", "")
    )


def page(data: Json, key: str, item: Callable[[Json], T]) -> Page[T]:
    return Page(
        items=tuple(item(entry) for entry in data.get(key, ())),
        total_size=_int(data.get("total_size")),
        next_page_token=str(data.get("next_page_token", "")),
    )


def experiment(data: Json) -> Experiment:
    return Experiment(
        experiment_id=data.get("experiment_id", ""),
        display_name=data.get("display_name", ""),
        description=data.get("description", ""),
        created_at=timestamp(data.get("created_at")),
        namespace=data.get("namespace", ""),
        storage_state=_storage(data.get("storage_state")),
        last_run_created_at=timestamp(data.get("last_run_created_at")),
        webhook_url=data.get("webhook_url", ""),
    )


def pipeline(data: Json) -> Pipeline:
    return Pipeline(
        pipeline_id=data.get("pipeline_id", ""),
        display_name=data.get("display_name", ""),
        name=data.get("name", ""),
        description=data.get("description", ""),
        created_at=timestamp(data.get("created_at")),
        namespace=data.get("namespace", ""),
        tags=dict(data.get("tags") or {}),
    )


def pipeline_version(data: Json) -> PipelineVersion:
    return PipelineVersion(
        pipeline_id=data.get("pipeline_id", ""),
        pipeline_version_id=data.get("pipeline_version_id", ""),
        display_name=data.get("display_name", ""),
        name=data.get("name", ""),
        description=data.get("description", ""),
        created_at=timestamp(data.get("created_at")),
        package_url=(data.get("package_url") or {}).get("pipeline_url", ""),
        code_source_url=data.get("code_source_url", ""),
        tags=dict(data.get("tags") or {}),
        pipeline_spec=dict(data.get("pipeline_spec") or {}),
    )


def _attempt(data: Json) -> TaskAttempt:
    return TaskAttempt(
        attempt=_int(data.get("attempt")),
        state=_state(data.get("state")),
        start_time=timestamp(data.get("start_time")),
        end_time=timestamp(data.get("end_time")),
        error=_error(data.get("error")),
        log_uri=data.get("log_uri", ""),
        exit_code=_int(data.get("exit_code")),
    )


def task(data: Json) -> Task:
    return Task(
        task_id=data.get("task_id", ""),
        run_id=data.get("run_id", ""),
        name=data.get("task_name", ""),
        display_name=data.get("display_name", ""),
        kind=data.get("kind", ""),
        state=_state(data.get("state")),
        parent_task_id=data.get("parent_task_id", ""),
        create_time=timestamp(data.get("create_time")),
        start_time=timestamp(data.get("start_time")),
        end_time=timestamp(data.get("end_time")),
        error=_error(data.get("error")),
        input_parameters=dict(data.get("input_parameters") or {}),
        output_parameters=dict(data.get("output_parameters") or {}),
        input_artifacts=_artifact_ids(data.get("inputs")),
        output_artifacts=_artifact_ids(data.get("outputs")),
        child_task_ids=tuple(child.get("task_id", "") for child in data.get("child_tasks", ())),
        attempts=tuple(_attempt(each) for each in data.get("attempts", ())),
        cached_from_task_id=data.get("cached_from_task_id", ""),
        log_uri=data.get("log_uri", ""),
    )


def run(data: Json) -> Run:
    config = data.get("runtime_config") or {}
    return Run(
        run_id=data.get("run_id", ""),
        experiment_id=data.get("experiment_id", ""),
        display_name=data.get("display_name", ""),
        description=data.get("description", ""),
        state=_state(data.get("state")),
        storage_state=_storage(data.get("storage_state")),
        error=_error(data.get("error")),
        created_at=timestamp(data.get("created_at")),
        scheduled_at=timestamp(data.get("scheduled_at")),
        finished_at=timestamp(data.get("finished_at")),
        parameters=dict(config.get("parameters") or {}),
        pipeline_root=config.get("pipeline_root", ""),
        pipeline_version_reference=_version_reference(data.get("pipeline_version_reference")),
        recurring_run_id=data.get("recurring_run_id", ""),
        disable_cache=bool(data.get("disable_cache", False)),
        metrics={str(name): float(value) for name, value in (data.get("metrics") or {}).items()},
        tasks=tuple(task(each) for each in (data.get("run_details") or {}).get("task_details", ())),
        pipeline_spec=dict(data.get("pipeline_spec") or {}),
    )


def run_event(data: Json) -> RunEvent:
    return RunEvent(
        kind=_enum(EventKind, data.get("kind"), EventKind.UNSPECIFIED),
        run_id=data.get("run_id", ""),
        task_id=data.get("task_id", ""),
        task_name=data.get("task_name", ""),
        display_name=data.get("display_name", ""),
        parent_task_id=data.get("parent_task_id", ""),
        state=_state(data.get("state")),
        attempt=_int(data.get("attempt")),
        time=timestamp(data.get("time")),
        error=_error(data.get("error")),
        output_parameters=dict(data.get("output_parameters") or {}),
        sequence=_int(data.get("sequence")),
        experiment_id=data.get("experiment_id", ""),
        cached=bool(data.get("cached", False)),
    )


def recurring_run(data: Json) -> RecurringRun:
    trigger = data.get("trigger") or {}
    cron = trigger.get("cron_schedule") or {}
    periodic = trigger.get("periodic_schedule") or {}
    schedule = cron or periodic
    config = data.get("runtime_config") or {}
    return RecurringRun(
        recurring_run_id=data.get("recurring_run_id", ""),
        display_name=data.get("display_name", ""),
        description=data.get("description", ""),
        cron=cron.get("cron", ""),
        interval_seconds=_int(periodic.get("interval_second")),
        start_time=timestamp(schedule.get("start_time")),
        end_time=timestamp(schedule.get("end_time")),
        enabled=data.get("status") == "ENABLED",
        max_concurrency=_int(data.get("max_concurrency")),
        catchup=not data.get("no_catchup", False),
        experiment_id=data.get("experiment_id", ""),
        namespace=data.get("namespace", ""),
        parameters=dict(config.get("parameters") or {}),
        pipeline_root=config.get("pipeline_root", ""),
        pipeline_version_reference=_version_reference(data.get("pipeline_version_reference")),
        created_at=timestamp(data.get("created_at")),
        updated_at=timestamp(data.get("updated_at")),
        webhook_url=data.get("webhook_url", ""),
    )


def artifact(data: Json) -> Artifact:
    return Artifact(
        artifact_id=data.get("artifact_id", ""),
        name=data.get("name", ""),
        uri=data.get("uri", ""),
        schema_title=data.get("schema_title", ""),
        schema_version=data.get("schema_version", ""),
        metadata=dict(data.get("metadata") or {}),
        run_id=data.get("run_id", ""),
        task_id=data.get("task_id", ""),
        output_key=data.get("output_key", ""),
        created_at=timestamp(data.get("created_at")),
        size_bytes=_int(data.get("size_bytes")),
    )

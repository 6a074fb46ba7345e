"""Run events: the facts the scheduler publishes on `sluice.events.<run_id>`."""

from __future__ import annotations

from typing import Protocol

from google.protobuf import json_format
from sluice.v1 import common_pb2, events_pb2

from services.core.events.subjects import run_events_subject
from services.core.protovalues import to_timestamp, utc_now, values_map
from services.core.store.records import RunRecord, TaskRecord


class EventPublisher(Protocol):
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int: ...


def run_event(run: RunRecord, kind: events_pb2.RunEvent.Kind.ValueType) -> events_pb2.RunEvent:
    event = events_pb2.RunEvent(
        event_id=f"{run.run_id}/run/{len(run.state_history)}/{run.state.value}",
        kind=kind,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        display_name=run.display_name,
        state=common_pb2.RuntimeState.Value(run.state.value),
        time=to_timestamp(utc_now()),
    )
    if kind == events_pb2.RunEvent.RUN_CREATED:
        event.event_id = f"{run.run_id}/created"
    if run.error is not None:
        event.error.CopyFrom(common_pb2.Status(code=run.error.code, message=run.error.message))
    return event


def task_event(run: RunRecord, task: TaskRecord) -> events_pb2.RunEvent:
    event = events_pb2.RunEvent(
        event_id=f"{run.run_id}/{task.task_id}/{task.attempt}/{len(task.state_history)}/{task.state.value}",
        kind=events_pb2.RunEvent.TASK_STATE_CHANGED,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        task_id=task.task_id,
        task_name=task.name,
        display_name=task.display_name,
        parent_task_id=task.parent_task_id,
        state=common_pb2.RuntimeState.Value(task.state.value),
        attempt=task.attempt,
        time=to_timestamp(task.state_history[-1].time if task.state_history else utc_now()),
        output_parameters=values_map(task.output_parameters),
        cached=bool(task.cached_from_task_id),
    )
    if task.error is not None:
        event.error.CopyFrom(common_pb2.Status(code=task.error.code, message=task.error.message))
    return event


def encode(event: events_pb2.RunEvent) -> bytes:
    return json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None).encode()


async def publish(publisher: EventPublisher, event: events_pb2.RunEvent) -> None:
    await publisher.publish(run_events_subject(event.run_id), encode(event), msg_id=event.event_id)

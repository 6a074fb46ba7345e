"""After a restart the scheduler publishes again the events of recent state changes, which
a crash between a store write and its publish would have lost: over a real SQLite store
and a real nats-server, each event ends up in the stream once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sluice.v1 import events_pb2

from services.core.events import NatsBus
from services.core.events.subjects import EVENTS_STREAM, run_events_subject
from services.core.pipeline.model import JsonValue
from services.core.store.records import RunRecord, RuntimeState, StateChange, TaskKind, TaskRecord
from services.core.store.sqlite import SqliteStore
from services.scheduler import run_events
from services.scheduler.event_recovery import recent_events, recovery_horizon, republish_recent_events
from tests.services.core.events.helpers import next_within, nothing_within

SPEC: dict[str, JsonValue] = {"pipelineInfo": {"name": "p"}, "root": {"dag": {"tasks": {}}}}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "sluice.db")
    await store.start()
    yield store
    await store.aclose()


def _history(*changes: tuple[RuntimeState, float]) -> list[StateChange]:
    # Ages from now, when the record is made: the suite may import this module long before.
    now = datetime.now(UTC)
    return [StateChange(state=state, time=now - timedelta(seconds=ago)) for state, ago in changes]


def _run(run_id: str, *history: tuple[RuntimeState, float]) -> RunRecord:
    changes = _history(*history)
    state = changes[-1].state
    finished = changes[-1].time if state in (RuntimeState.SUCCEEDED, RuntimeState.FAILED) else None
    return RunRecord(
        run_id=run_id,
        experiment_id="e",
        display_name=run_id,
        created_at=changes[0].time,
        pipeline_spec=SPEC,
        state=state,
        state_history=changes,
        finished_at=finished,
    )


def _task(run_id: str, name: str, *history: tuple[RuntimeState, float]) -> TaskRecord:
    changes = _history(*history)
    return TaskRecord(
        task_id=f"{run_id}-{name}",
        run_id=run_id,
        path=f"root/{name}",
        name=name,
        display_name=name,
        kind=TaskKind.CONTAINER,
        create_time=changes[0].time,
        state=changes[-1].state,
        state_history=changes,
        attempt=1,
    )


async def _events_of(bus: NatsBus, run_id: str) -> list[tuple[str, str, str]]:
    """(kind, task display name, state) of the run's stored events, in stream order."""
    found: list[tuple[str, str, str]] = []
    feed = await bus.replay(run_events_subject(run_id))
    try:
        while True:
            try:
                message = await next_within(feed, 1.0)
            except AssertionError:
                return found
            event = json.loads(message.data)
            found.append(
                (event["kind"], event.get("display_name", "") if "task_id" in event else "", event["state"])
            )
    finally:
        await feed.aclose()


async def test_lost_events_of_recent_changes_are_published_once(
    nats_bus: NatsBus, store: SqliteStore
) -> None:
    # A run that finished 5 s ago: the scheduler died before publishing its last changes.
    finished = _run(
        "finished", (RuntimeState.PENDING, 9), (RuntimeState.RUNNING, 8), (RuntimeState.SUCCEEDED, 5)
    )
    await store.create_run(finished)
    await store.create_tasks(
        [
            _task(
                "finished",
                "train",
                (RuntimeState.PENDING, 8),
                (RuntimeState.RUNNING, 7),
                (RuntimeState.SUCCEEDED, 5.5),
            ),
        ]
    )
    # An unfinished run whose task started 1 s ago, and one that ended an hour ago.
    running = _run("running", (RuntimeState.PENDING, 3), (RuntimeState.RUNNING, 2))
    await store.create_run(running)
    await store.create_tasks([_task("running", "fit", (RuntimeState.PENDING, 2), (RuntimeState.RUNNING, 1))])
    old = _run("old", (RuntimeState.PENDING, 3700), (RuntimeState.RUNNING, 3650), (RuntimeState.FAILED, 3600))
    await store.create_run(old)
    # The running task's start was published before the crash; nothing else was.
    [fit] = await store.list_tasks("running")
    await run_events.publish(nats_bus, run_events.task_event(running, fit))
    stored_before = (await nats_bus.stream_state(EVENTS_STREAM)).messages

    since = recovery_horizon(datetime.now(UTC), duplicate_window_seconds=nats_bus.config.duplicate_window)
    republished = await republish_recent_events(store, nats_bus, since=since)

    assert republished == 4  # finished: task and run end; running: run start and task start
    assert await _events_of(nats_bus, "finished") == [
        ("TASK_STATE_CHANGED", "train", "SUCCEEDED"),
        ("RUN_STATE_CHANGED", "", "SUCCEEDED"),
    ]
    # The task start published before the crash is stored once: the stream dropped the copy.
    assert await _events_of(nats_bus, "running") == [
        ("TASK_STATE_CHANGED", "fit", "RUNNING"),
        ("RUN_STATE_CHANGED", "", "RUNNING"),
    ]
    assert await _events_of(nats_bus, "old") == []
    assert (await nats_bus.stream_state(EVENTS_STREAM)).messages == stored_before + 3

    # A second restart stores nothing new.
    await republish_recent_events(store, nats_bus, since=since)
    assert (await nats_bus.stream_state(EVENTS_STREAM)).messages == stored_before + 3
    feed = await nats_bus.replay(run_events_subject("finished"), after_sequence=stored_before + 3)
    try:
        await nothing_within(feed)
    finally:
        await feed.aclose()


def test_a_runs_start_comes_before_its_tasks_and_its_end_after_them() -> None:
    run = _run("r", (RuntimeState.PENDING, 3), (RuntimeState.SUCCEEDED, 1))
    same_time = _task("r", "t", (RuntimeState.PENDING, 2), (RuntimeState.SUCCEEDED, 1))
    same_time.state_history[-1] = StateChange(state=RuntimeState.SUCCEEDED, time=run.state_history[-1].time)
    started = _task("r", "u", (RuntimeState.PENDING, 3))
    started.state_history[-1] = StateChange(state=RuntimeState.PENDING, time=run.state_history[0].time)
    running = _run("r", (RuntimeState.PENDING, 3))
    created = _run("c", (RuntimeState.PENDING, 1))
    since = datetime.now(UTC) - timedelta(seconds=60)

    ends = [(e.kind, e.task_id) for e in recent_events(run, [same_time], since=since)]
    assert ends == [
        (events_pb2.RunEvent.TASK_STATE_CHANGED, "r-t"),
        (events_pb2.RunEvent.RUN_STATE_CHANGED, ""),
    ]
    running.state_history[0] = run.state_history[0]
    starts = [(e.kind, e.task_id) for e in recent_events(running, [started], since=since)]
    assert starts == [(events_pb2.RunEvent.RUN_CREATED, ""), (events_pb2.RunEvent.TASK_STATE_CHANGED, "r-u")]
    [first] = recent_events(created, [], since=since)
    assert (first.kind, first.event_id) == (events_pb2.RunEvent.RUN_CREATED, "c/created")
    assert recent_events(run, [same_time], since=datetime.now(UTC)) == []


def test_the_horizon_stays_inside_the_duplicate_window() -> None:
    now = datetime.now(UTC)
    assert recovery_horizon(now, duplicate_window_seconds=120) == now - timedelta(seconds=110)

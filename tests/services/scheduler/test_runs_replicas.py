"""Scheduler replicas sharing one store: a compare-and-set lost to another replica is
decided again, what was written before the loss is dispatched and announced, reports that
arrive out of order or twice still move the run on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sluice.v1 import tasks_pb2

from services.core import errors
from services.core.events.subjects import DISPATCH_SUBJECT
from services.core.store.records import RunRecord, RuntimeState, TaskKind, TaskRecord
from services.core.store.sqlite import SqliteStore
from services.scheduler.engine.results import AttemptReport
from services.scheduler.runs import RunScheduler
from tests.e2e.kfp_pipelines import compile_all
from tests.services.scheduler.replica_pipelines import compile_spec


@dataclass
class RecordingBus:
    """Dispatches by message id (as the stream dedupes them) and events in order."""

    dispatches: dict[str, tasks_pb2.TaskDispatch] = field(default_factory=dict)
    sends: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
        assert msg_id
        if subject == DISPATCH_SUBJECT:
            self.sends += 1
            self.dispatches.setdefault(msg_id, tasks_pb2.TaskDispatch.FromString(data))
        elif all(event["event_id"] != msg_id for event in self.events):
            self.events.append(json.loads(data))
        return 1

    async def broadcast(self, subject: str, data: bytes) -> None:
        return None

    def named(self, task_name: str) -> list[tasks_pb2.TaskDispatch]:
        return [d for d in self.dispatches.values() if d.task_name == task_name]


class RacingStore(SqliteStore):
    """A store on which, when armed, another replica writes a task just before this one."""

    race_after_launch = False
    """Race the first task update that follows the creation of a launched task."""
    fail_creates = 0
    """Fail this many task creations as if the store were unreachable."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.raced = 0
        self._armed = False

    async def create_tasks(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        if self.fail_creates:
            self.fail_creates -= 1
            raise errors.Unavailable("the store is restarting")
        stored = await super().create_tasks(tasks)
        launched = any(task.kind is TaskKind.CONTAINER and task.attempt >= 1 for task in tasks)
        self._armed = self._armed or (self.race_after_launch and launched)
        return stored

    async def update_task(self, task: TaskRecord) -> TaskRecord:
        if self._armed:
            self._armed = self.race_after_launch = False
            # The other replica's write: same content, next version.
            await super().update_task(await super().get_task(task.task_id))
            self.raced += 1
        return await super().update_task(task)


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("replicas")
    paths = compile_all(directory) | {"nested-chain": compile_spec(directory)}
    return {name: yaml.safe_load(path.read_text()) for name, path in paths.items()}


@dataclass
class Replica:
    runs: RunScheduler
    store: RacingStore
    bus: RecordingBus


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    """Two schedulers on one SQLite file, each with its own connection and bus."""
    made: list[Replica] = []
    for _ in range(2):
        store = RacingStore(tmp_path / "sluice.db")
        await store.start()
        bus = RecordingBus()
        runs = RunScheduler(store=store, bus=bus, artifacts=None, default_pipeline_root="file:///tmp/root")
        made.append(Replica(runs=runs, store=store, bus=bus))
    try:
        yield made
    finally:
        for replica in made:
            await replica.runs.aclose()
            await replica.store.aclose()


async def start(replica: Replica, spec: dict[str, Any], parameters: dict[str, Any] | None = None) -> str:
    run = RunRecord(
        run_id=uuid.uuid4().hex,
        experiment_id="e",
        display_name="r",
        created_at=datetime.now(UTC),
        pipeline_spec=spec,
        parameters=parameters or {},
        disable_cache=True,
    )
    await replica.runs.start_run(run)
    return run.run_id


def report(
    dispatch: tasks_pb2.TaskDispatch,
    state: RuntimeState,
    *,
    outputs: dict[str, Any] | None = None,
    executor: str = "executor-a",
) -> AttemptReport:
    return AttemptReport(
        task_id=dispatch.task_id,
        attempt=dispatch.attempt,
        state=state,
        time=datetime.now(UTC),
        output_parameters=outputs or {},
        executor_id=executor,
    )


async def finish(replica: Replica, dispatch: tasks_pb2.TaskDispatch, output: int) -> None:
    await replica.runs.on_report(dispatch.run_id, report(dispatch, RuntimeState.RUNNING))
    await replica.runs.on_report(
        dispatch.run_id, report(dispatch, RuntimeState.SUCCEEDED, outputs={"Output": output})
    )


async def test_a_launch_written_before_a_lost_race_is_dispatched(
    replicas: list[Replica], specs: dict[str, dict[str, Any]]
) -> None:
    one = replicas[0]
    run_id = await start(one, specs["nested-chain"], {"x": 1})
    (inner,) = one.bus.named("plus")
    one.store.race_after_launch = True

    await finish(one, inner, 2)

    assert one.store.raced == 1, "the race was not staged: the test proves nothing"
    (after,) = [d for d in one.bus.named("plus") if d.task_id != inner.task_id]
    assert dict(after.input_parameters)["a"].number_value == 2
    await finish(one, after, 12)
    run = await one.store.get_run(run_id)
    assert run.state is RuntimeState.SUCCEEDED
    states = {(event.get("task_id", ""), event["state"]) for event in one.bus.events if event.get("task_id")}
    for task in await one.store.list_tasks(run_id):
        assert (task.task_id, task.state.value) in states, f"no event for {task.name} {task.state}"


async def test_an_end_reported_before_its_start_still_records_the_start(
    replicas: list[Replica], specs: dict[str, dict[str, Any]]
) -> None:
    one, two = replicas
    run_id = await start(one, specs["linear"], {"x": 1})
    (first,) = one.bus.named("add")

    # Two replicas consume the results: the end may be handled before the start.
    await two.runs.on_report(run_id, report(first, RuntimeState.SUCCEEDED, outputs={"Output": 2}))
    task = await one.store.get_task(first.task_id)
    version = task.version
    await one.runs.on_report(run_id, report(first, RuntimeState.RUNNING))

    task = await one.store.get_task(first.task_id)
    assert task.version == version, "the late start changed the task"
    assert [change.state for change in task.state_history] == [
        RuntimeState.PENDING,
        RuntimeState.RUNNING,
        RuntimeState.SUCCEEDED,
    ]
    assert [(a.attempt, a.state, a.executor_id) for a in task.attempts] == [
        (1, RuntimeState.SUCCEEDED, "executor-a")
    ]
    announced = [event["state"] for event in two.bus.events if event.get("task_id") == first.task_id]
    assert announced[-2:] == ["RUNNING", "SUCCEEDED"]


async def test_a_redelivered_end_advances_the_run_its_first_delivery_could_not(
    replicas: list[Replica], specs: dict[str, dict[str, Any]]
) -> None:
    one = replicas[0]
    run_id = await start(one, specs["linear"], {"x": 1})
    (first,) = one.bus.named("add")
    await one.runs.on_report(run_id, report(first, RuntimeState.RUNNING))
    one.store.fail_creates = 1
    end = report(first, RuntimeState.SUCCEEDED, outputs={"Output": 2})
    with pytest.raises(errors.Unavailable):
        await one.runs.on_report(run_id, end)
    assert (await one.store.get_task(first.task_id)).state is RuntimeState.SUCCEEDED
    assert one.bus.named("add-2") == []

    await one.runs.on_report(run_id, end)

    (second,) = one.bus.named("add-2")
    assert dict(second.input_parameters)["a"].number_value == 2


async def test_an_attempt_started_again_elsewhere_names_its_new_executor(
    replicas: list[Replica], specs: dict[str, dict[str, Any]]
) -> None:
    one, two = replicas
    run_id = await start(one, specs["linear"], {"x": 1})
    (first,) = one.bus.named("add")
    await one.runs.on_report(run_id, report(first, RuntimeState.RUNNING, executor="executor-a"))
    # executor-a died; the broker handed the same attempt to executor-b.
    await two.runs.on_report(run_id, report(first, RuntimeState.RUNNING, executor="executor-b"))
    task = await one.store.get_task(first.task_id)
    assert [(a.attempt, a.state, a.executor_id) for a in task.attempts] == [
        (1, RuntimeState.RUNNING, "executor-b")
    ]
    running = [change for change in task.state_history if change.state is RuntimeState.RUNNING]
    assert len(running) == 1


@pytest.mark.parametrize("round_", range(5))
async def test_two_replicas_ending_two_branches_at_once_start_the_join_once(
    replicas: list[Replica], specs: dict[str, dict[str, Any]], round_: int
) -> None:
    one, two = replicas
    run_id = await start(one, specs["diamond"], {"x": 2})
    (top,) = one.bus.named("add")
    await finish(one, top, 2)
    (left,) = one.bus.named("add-2")
    (right,) = one.bus.named("add-3")
    await asyncio.gather(
        one.runs.on_report(run_id, report(left, RuntimeState.RUNNING)),
        two.runs.on_report(run_id, report(right, RuntimeState.RUNNING)),
    )
    await asyncio.gather(
        one.runs.on_report(run_id, report(left, RuntimeState.SUCCEEDED, outputs={"Output": 3})),
        two.runs.on_report(run_id, report(right, RuntimeState.SUCCEEDED, outputs={"Output": 4})),
    )

    joins = [*one.bus.named("add-4"), *two.bus.named("add-4")]
    assert joins, "neither replica started the join"
    assert len({(d.task_id, d.attempt) for d in joins}) == 1
    (join,) = {d.task_id: d for d in joins}.values()
    assert {name: value.number_value for name, value in join.input_parameters.items()} == {"a": 3, "b": 4}
    await finish(two, join, 7)
    assert (await one.store.get_run(run_id)).state is RuntimeState.SUCCEEDED

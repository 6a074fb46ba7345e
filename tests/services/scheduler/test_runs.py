"""The run scheduler over a real SQLite store, with a recording bus: dispatches, cancel
requests, retry timers, batched reports, retrying a run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sluice.v1 import tasks_pb2

from services.core import errors
from services.core.events.subjects import CANCEL_SUBJECT, DISPATCH_SUBJECT
from services.core.store.records import RunRecord, RuntimeState, TaskRecord
from services.core.store.sqlite import SqliteStore
from services.scheduler.engine.results import AttemptReport
from services.scheduler.runs import RunScheduler
from tests.e2e.kfp_control_flow import compile_all


@dataclass
class RecordingBus:
    dispatches: list[tasks_pb2.TaskDispatch] = field(default_factory=list)
    cancels: list[tasks_pb2.CancelTasks] = field(default_factory=list)
    events: int = 0
    new_dispatch: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
        if subject == DISPATCH_SUBJECT:
            self.dispatches.append(tasks_pb2.TaskDispatch.FromString(data))
            self.new_dispatch.set()
        else:
            self.events += 1
        return 1

    async def broadcast(self, subject: str, data: bytes) -> None:
        assert subject == CANCEL_SUBJECT
        self.cancels.append(tasks_pb2.CancelTasks.FromString(data))


class CountingStore(SqliteStore):
    list_calls = 0

    async def list_tasks(self, run_id: str) -> list[TaskRecord]:
        self.list_calls += 1
        return await super().list_tasks(run_id)


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    paths: dict[str, Path] = compile_all(tmp_path_factory.mktemp("runs"))
    return {name: yaml.safe_load(path.read_text()) for name, path in paths.items()}


@dataclass
class Scheduler:
    runs: RunScheduler
    store: CountingStore
    bus: RecordingBus

    async def start(self, spec: dict[str, object], parameters: dict[str, object] | None = None) -> str:
        run = RunRecord(
            run_id=uuid.uuid4().hex,
            experiment_id="e",
            display_name="r",
            created_at=datetime.now(UTC),
            pipeline_spec=spec,  # type: ignore[arg-type]
            parameters=parameters or {},  # type: ignore[arg-type]
            disable_cache=True,
        )
        await self.runs.start_run(run)
        return run.run_id

    async def report(
        self,
        dispatch: tasks_pb2.TaskDispatch,
        state: RuntimeState,
        *,
        outputs: dict[str, object] | None = None,
    ) -> None:
        await self.runs.on_report(
            dispatch.run_id,
            AttemptReport(
                task_id=dispatch.task_id,
                attempt=dispatch.attempt,
                state=state,
                time=datetime.now(UTC),
                output_parameters=outputs or {},  # type: ignore[arg-type]
            ),
        )

    async def finish(
        self, dispatch: tasks_pb2.TaskDispatch, outputs: dict[str, object] | None = None
    ) -> None:
        await self.report(dispatch, RuntimeState.RUNNING)
        await self.report(dispatch, RuntimeState.SUCCEEDED, outputs=outputs)

    def dispatched(self, task_name: str) -> list[tasks_pb2.TaskDispatch]:
        return [dispatch for dispatch in self.bus.dispatches if dispatch.task_name == task_name]


@pytest.fixture
async def scheduler(tmp_path: Path) -> AsyncIterator[Scheduler]:
    store = CountingStore(tmp_path / "sluice.db")
    await store.start()
    bus = RecordingBus()
    runs = RunScheduler(store=store, bus=bus, artifacts=None, default_pipeline_root="file:///tmp/root")
    try:
        yield Scheduler(runs=runs, store=store, bus=bus)
    finally:
        await runs.aclose()
        await store.aclose()


async def test_a_burst_of_reports_is_applied_with_one_reconcile(
    scheduler: Scheduler, specs: dict[str, dict[str, object]]
) -> None:
    run_id = await scheduler.start(specs["loop-nested"])
    pluses = scheduler.dispatched("plus")
    assert len(pluses) == 6
    for dispatch in pluses:
        await scheduler.report(dispatch, RuntimeState.RUNNING)
    before = scheduler.store.list_calls
    await asyncio.gather(
        *(scheduler.report(d, RuntimeState.SUCCEEDED, outputs={"Output": 1}) for d in pluses)
    )
    # The first report is handled at once; the five that came meanwhile, together.
    assert scheduler.store.list_calls - before == 2
    run = await scheduler.store.get_run(run_id)
    assert run.state is RuntimeState.SUCCEEDED


async def test_a_failed_attempt_is_retried_when_its_backoff_is_due(
    scheduler: Scheduler, specs: dict[str, dict[str, object]]
) -> None:
    run_id = await scheduler.start(specs["retries-exhausted"], {"marker_dir": "/tmp/m"})
    (first,) = scheduler.dispatched("flaky")
    await scheduler.report(first, RuntimeState.RUNNING)
    await scheduler.report(first, RuntimeState.FAILED)
    async with asyncio.timeout(5):
        while len(scheduler.dispatched("flaky")) < 2:
            scheduler.bus.new_dispatch.clear()
            await scheduler.bus.new_dispatch.wait()
    second = scheduler.dispatched("flaky")[1]
    assert second.attempt == 2
    assert second.task_id == first.task_id
    await scheduler.report(second, RuntimeState.RUNNING)
    await scheduler.report(second, RuntimeState.FAILED)
    run = await scheduler.store.get_run(run_id)
    assert run.state is RuntimeState.FAILED

    await scheduler.runs.retry_run(run_id)
    third = scheduler.dispatched("flaky")[2]
    assert third.attempt == 3
    await scheduler.finish(third, {"Output": 3})
    await scheduler.finish(scheduler.dispatched("echo")[0], {"Output": "never"})
    assert (await scheduler.store.get_run(run_id)).state is RuntimeState.SUCCEEDED
    with pytest.raises(errors.FailedPrecondition):
        await scheduler.runs.retry_run(run_id)


async def test_terminate_names_the_tasks_to_stop_and_stops_late_starters(
    scheduler: Scheduler, specs: dict[str, dict[str, object]]
) -> None:
    run_id = await scheduler.start(specs["terminate"], {"pid_dir": "/tmp/p"})
    running, queued = scheduler.dispatched("hold")
    await scheduler.report(running, RuntimeState.RUNNING)
    await scheduler.runs.terminate_run(run_id)
    assert (await scheduler.store.get_run(run_id)).state is RuntimeState.CANCELING
    (cancel,) = scheduler.bus.cancels
    assert cancel.run_id == run_id
    assert sorted(cancel.task_ids) == sorted([running.task_id, queued.task_id])

    # The queued dispatch reaches an executor after all: it is stopped as it starts.
    await scheduler.report(queued, RuntimeState.RUNNING)
    assert list(scheduler.bus.cancels[-1].task_ids) == [queued.task_id]
    # Asked again: the request for the running task is repeated.
    await scheduler.runs.terminate_run(run_id)
    assert list(scheduler.bus.cancels[-1].task_ids) == [running.task_id]

    await scheduler.report(running, RuntimeState.CANCELED)
    (exit_task,) = scheduler.dispatched("final-status")
    assert dict(exit_task.input_parameters)["status"].struct_value["state"] == "CANCELLED"
    await scheduler.finish(exit_task, {"Output": "{}"})
    run = await scheduler.store.get_run(run_id)
    assert run.state is RuntimeState.CANCELED
    assert [change.state for change in run.state_history][-2:] == [
        RuntimeState.CANCELING,
        RuntimeState.CANCELED,
    ]
    with pytest.raises(errors.FailedPrecondition):
        await scheduler.runs.terminate_run(run_id)


async def test_a_restarted_scheduler_dispatches_pending_attempts_again(
    scheduler: Scheduler, specs: dict[str, dict[str, object]]
) -> None:
    """A crash between storing a launch and publishing its dispatch must not lose the task:
    the next scheduler sends the same attempt again (same message id, so never twice)."""
    run_id = await scheduler.start(specs["loop-nested"])
    first = {(d.task_id, d.attempt) for d in scheduler.bus.dispatches}
    assert first
    restarted_bus = RecordingBus()
    restarted = RunScheduler(
        store=scheduler.store, bus=restarted_bus, artifacts=None, default_pipeline_root="file:///tmp/root"
    )
    try:
        assert await restarted.reconcile_active_runs() == 1
    finally:
        await restarted.aclose()
    again = {(d.task_id, d.attempt) for d in restarted_bus.dispatches}
    assert again == first
    assert all(d.run_id == run_id for d in restarted_bus.dispatches)


async def test_an_ended_attempt_that_runs_again_is_stopped_and_only_that_attempt(
    scheduler: Scheduler, specs: dict[str, dict[str, object]]
) -> None:
    """After a crash of nats-server the broker may hand out a dispatch whose ack it lost."""
    await scheduler.start(specs["retries-exhausted"], {"marker_dir": "/tmp/m"})
    (first,) = scheduler.dispatched("flaky")
    await scheduler.report(first, RuntimeState.RUNNING)
    await scheduler.report(first, RuntimeState.FAILED)
    async with asyncio.timeout(5):
        while len(scheduler.dispatched("flaky")) < 2:
            scheduler.bus.new_dispatch.clear()
            await scheduler.bus.new_dispatch.wait()
    second = scheduler.dispatched("flaky")[1]
    await scheduler.report(second, RuntimeState.RUNNING)
    assert scheduler.bus.cancels == []

    # Attempt 1, which failed, starts again somewhere: it alone is stopped.
    await scheduler.report(first, RuntimeState.RUNNING)

    (cancel,) = scheduler.bus.cancels
    assert (cancel.run_id, list(cancel.task_ids), cancel.attempt) == (first.run_id, [first.task_id], 1)
    task = await scheduler.store.get_task(first.task_id)
    assert (task.state, task.attempt) == (RuntimeState.RUNNING, 2)
    assert [a.state for a in task.attempts] == [RuntimeState.FAILED, RuntimeState.RUNNING]

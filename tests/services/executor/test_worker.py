"""The executor's work loop over the in-process bus: a dispatch is held with heartbeats; a
worker that cannot renew its hold stops the attempt before the broker hands it on, and a
dispatch is never run twice at once by one worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from sluice.v1 import common_pb2, tasks_pb2

from services.artifacts.client import ArtifactClient
from services.core.errors import Unavailable
from services.core.events import BusConfig, MemoryBus, WorkItem
from services.core.events import memory as memory_bus
from services.core.events.subjects import (
    CANCEL_SUBJECT,
    DISPATCH_STREAM,
    DISPATCH_SUBJECT,
    RESULTS_CONSUMER,
    RESULTS_STREAM,
)
from services.core.store.records import ArtifactRecord
from services.executor.launchers.base import LaunchOutcome, LaunchRequest
from services.executor.staging import LocalFileStager
from services.executor.worker import ExecutorWorker, attempt_key
from tests.services.executor.waiting import wait_until

ACK_WAIT = 0.6
HEARTBEAT = 0.2
KEY = attempt_key("run-1", "task-1", 1)


class GateLauncher:
    """Launches that last until `release` is set or they are stopped; records them."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.canceled: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self._stops: dict[str, asyncio.Event] = {}

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        self.started.append(request.key)
        stop = self._stops[request.key] = asyncio.Event()
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            released = asyncio.create_task(self.release.wait())
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait([released, stopped], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # The awaiting task was cancelled: that stops the process too.
                self.canceled.append(request.key)
                raise
            finally:
                released.cancel()
                stopped.cancel()
            if stop.is_set():
                self.canceled.append(request.key)
            return LaunchOutcome(exit_code=0, canceled=stop.is_set())
        finally:
            self.running -= 1
            self._stops.pop(request.key, None)

    async def cancel(self, key: str) -> bool:
        stop = self._stops.get(key)
        if stop is None:
            return False
        stop.set()
        return True


class Artifacts:
    """What the worker needs of the artifact service: keeping logs (kept in `objects`),
    recording outputs."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def upload_file(self, path: Path, uri: str) -> int:
        data = await asyncio.to_thread(path.read_bytes)
        self.objects[uri] = data
        return len(data)

    async def register(self, records: list[ArtifactRecord]) -> None:
        return None


class CutOff:
    """Heartbeats of the in-process bus fail while `on` (as with NATS unreachable)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = False
        original = memory_bus._MemoryWorkItem._in_progress

        async def in_progress(item: WorkItem) -> None:
            if self.on:
                raise Unavailable("cut off")
            await original(cast(Any, item))

        monkeypatch.setattr(memory_bus._MemoryWorkItem, "_in_progress", in_progress)


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus(config=BusConfig(ack_wait=ACK_WAIT)) as bus:
        await bus.ensure_streams()
        yield bus


@pytest.fixture
def launcher() -> GateLauncher:
    return GateLauncher()


def make_worker(
    bus: MemoryBus,
    launcher: GateLauncher,
    tmp_path: Path,
    *,
    lease_seconds: float | None = None,
    artifacts: Artifacts | None = None,
) -> ExecutorWorker:
    return ExecutorWorker(
        bus=bus,
        artifacts=cast(ArtifactClient, artifacts or Artifacts()),
        launcher=launcher,
        stager=LocalFileStager(),
        work_root=tmp_path / "work",
        max_concurrent_tasks=2,
        heartbeat_seconds=HEARTBEAT,
        lease_seconds=lease_seconds,
        executor_id="executor-a",
        log_upload_seconds=0.05,
    )


def dispatch() -> bytes:
    return tasks_pb2.TaskDispatch(
        run_id="run-1",
        task_id="task-1",
        attempt=1,
        task_name="t",
        pipeline_name="p",
        pipeline_root="file:///root",
        container=tasks_pb2.ContainerTask(image="i", command=["true"]),
    ).SerializeToString()


async def backlog_down_to(bus: MemoryBus, messages: int, within: float = 2.0) -> None:
    """Wait until the dispatch stream holds at most `messages` (the others were acked)."""
    for _ in range(int(within / 0.01)):
        if (await bus.stream_state(DISPATCH_STREAM)).messages <= messages:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"more than {messages} dispatches left after {within}s")


async def settled(bus: MemoryBus) -> None:
    """Wait until every dispatch was acknowledged."""
    await backlog_down_to(bus, 0)


async def reports(bus: MemoryBus) -> list[tasks_pb2.TaskResult]:
    """The results reported so far, in order."""
    queue = await bus.work_queue(RESULTS_STREAM, RESULTS_CONSUMER, max_in_flight=100)
    try:
        items = await queue.fetch(max_wait=0.2)
        for item in items:
            await item.nak()
        return [tasks_pb2.TaskResult.FromString(item.data) for item in items]
    finally:
        await queue.aclose()


async def results(bus: MemoryBus) -> list[str]:
    """The states reported so far, in order."""
    return [common_pb2.RuntimeState.Name(result.state) for result in await reports(bus)]


async def test_a_worker_that_cannot_heartbeat_stops_the_attempt_and_leaves_it_to_the_next(
    bus: MemoryBus, launcher: GateLauncher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut_off = CutOff(monkeypatch)
    worker = make_worker(bus, launcher, tmp_path)
    await worker.start()
    try:
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=KEY)
        await wait_until(lambda: launcher.started == [KEY])
        cut_off.on = True
        # Stopped one heartbeat before the broker may hand the dispatch to someone else.
        await wait_until(lambda: launcher.canceled == [KEY], within=ACK_WAIT)
        cut_off.on = False
        assert await results(bus) == ["RUNNING"]

        # Not acknowledged: it comes back after ack_wait and runs again, to the end.
        await wait_until(lambda: launcher.started == [KEY, KEY], within=3 * ACK_WAIT)
        launcher.release.set()
        await settled(bus)
    finally:
        await worker.aclose(grace_seconds=1)
    # Each start is reported (the scheduler learns the attempt runs again), its end once.
    assert await results(bus) == ["RUNNING", "RUNNING", "SUCCEEDED"]
    assert launcher.most_at_once == 1


async def test_a_dispatch_handed_back_to_its_own_worker_stops_the_old_run_first(
    bus: MemoryBus, launcher: GateLauncher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the broker redeliver a dispatch the worker still runs (its lease thought
    longer than the broker's ack_wait), the old run stops before the new one starts."""
    cut_off = CutOff(monkeypatch)
    worker = make_worker(bus, launcher, tmp_path, lease_seconds=30.0)
    await worker.start()
    try:
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=KEY)
        await wait_until(lambda: launcher.started == [KEY])
        cut_off.on = True
        await wait_until(lambda: launcher.started == [KEY, KEY], within=3 * ACK_WAIT)
        cut_off.on = False
        assert launcher.canceled == [KEY]
        launcher.release.set()
        await settled(bus)
    finally:
        await worker.aclose(grace_seconds=1)
    assert launcher.most_at_once == 1
    # Each start is reported (the scheduler learns the attempt runs again), its end once.
    assert await results(bus) == ["RUNNING", "RUNNING", "SUCCEEDED"]


async def test_a_second_dispatch_of_a_running_attempt_is_dropped(
    bus: MemoryBus, launcher: GateLauncher, tmp_path: Path
) -> None:
    worker = make_worker(bus, launcher, tmp_path)
    await worker.start()
    try:
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=KEY)
        await wait_until(lambda: launcher.started == [KEY])
        # Sent again once the stream forgot the first message id: another message.
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=f"{KEY}/again")
        await backlog_down_to(bus, 1)
        launcher.release.set()
        await settled(bus)
    finally:
        await worker.aclose(grace_seconds=1)
    assert launcher.started == [KEY]
    assert await results(bus) == ["RUNNING", "SUCCEEDED"]


class TalkingLauncher(GateLauncher):
    """Writes a line to the attempt's log, then waits like GateLauncher."""

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        request.log_path.write_text("halfway there\n")
        return await super().launch(request)


async def test_a_running_attempts_log_is_stored_before_it_ends(bus: MemoryBus, tmp_path: Path) -> None:
    launcher, artifacts = TalkingLauncher(), Artifacts()
    worker = make_worker(bus, launcher, tmp_path, artifacts=artifacts)
    stored_at = "file:///root/p/run-1/logs/task-1-1.log"
    await worker.start()
    try:
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=KEY)
        await wait_until(lambda: launcher.started == [KEY])
        # The task still runs (the launcher holds it) and its log is in the store already.
        await wait_until(lambda: b"halfway there" in artifacts.objects.get(stored_at, b""))
        assert launcher.running == 1
        [running] = await reports(bus)
        assert (running.state, running.log_uri) == (common_pb2.RUNNING, stored_at)
        launcher.release.set()
        await settled(bus)
    finally:
        await worker.aclose(grace_seconds=1)
    [_, ended] = await reports(bus)
    assert (ended.state, ended.log_uri) == (common_pb2.SUCCEEDED, stored_at)
    assert artifacts.objects[stored_at].startswith(b"halfway there\n")


async def test_a_cancel_of_another_attempt_leaves_the_running_one_alone(
    bus: MemoryBus, launcher: GateLauncher, tmp_path: Path
) -> None:
    worker = make_worker(bus, launcher, tmp_path)
    await worker.start()
    try:
        await bus.publish(DISPATCH_SUBJECT, dispatch(), msg_id=KEY)
        await wait_until(lambda: launcher.started == [KEY])
        other = tasks_pb2.CancelTasks(run_id="run-1", task_ids=["task-1"], attempt=2)
        await bus.broadcast(CANCEL_SUBJECT, other.SerializeToString())
        await asyncio.sleep(0.2)
        assert launcher.canceled == []
        this = tasks_pb2.CancelTasks(run_id="run-1", task_ids=["task-1"], attempt=1)
        await bus.broadcast(CANCEL_SUBJECT, this.SerializeToString())
        await wait_until(lambda: launcher.canceled == [KEY])
        await settled(bus)
    finally:
        await worker.aclose(grace_seconds=1)
    assert await results(bus) == ["RUNNING", "CANCELED"]

"""The executor's work loop: pull dispatches, run attempts, report results.

Each dispatch is held (unacked) while its attempt runs, with in-progress heartbeats, so
that an executor that dies loses the task to another replica after `ack_wait`. Results
go to `sluice.tasks.results` with deterministic message ids, so a replayed report is
stored once.

The hold is a lease: the broker hands the dispatch to another executor once it has had no
heartbeat for `ack_wait`, whether this executor died or only lost its connection (a
restart of nats-server, a network partition). So an executor that cannot get a heartbeat
confirmed for most of that time stops the attempt, one heartbeat interval before the
broker may give it away, and neither reports nor acknowledges it: the attempt never runs
in two places at once, and runs again wherever the broker sends it next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.v1 import common_pb2, tasks_pb2

from services.artifacts.client import ArtifactClient
from services.core import errors
from services.core.events.bus import EventBus, Subscription
from services.core.events.subjects import (
    CANCEL_SUBJECT,
    DISPATCH_CONSUMER,
    DISPATCH_STREAM,
    RESULTS_SUBJECT,
)
from services.core.events.work import WorkItem, WorkQueue
from services.core.protovalues import from_struct, to_timestamp
from services.core.store.records import ArtifactRecord
from services.executor.attempt import LOG_FILE, attempt_dir_for, run_attempt
from services.executor.launchers.base import Launcher, LaunchOutcome, LaunchRequest
from services.executor.log_shipping import LogShipper
from services.executor.staging import ArtifactStager

logger = logging.getLogger(__name__)

# After a failed heartbeat, try again this soon (not a whole interval later): the lease
# runs out meanwhile.
_HEARTBEAT_RETRY = 0.2
# Tries of the ack of a finished attempt.
_ACK_TRIES = 3


def attempt_key(run_id: str, task_id: str, attempt: int) -> str:
    """The launcher's key for an attempt (also the start of its result message ids)."""
    return f"{run_id}/{task_id}/{attempt}"


def log_uri(dispatch: tasks_pb2.TaskDispatch) -> str:
    """Where an attempt's log is kept: beside the run's artifacts, so it outlives the task."""
    run_root = f"{dispatch.pipeline_root}/{dispatch.pipeline_name}/{dispatch.run_id}"
    return f"{run_root}/logs/{dispatch.task_id}-{dispatch.attempt}.log"


class _EarlyCancels:
    """A launcher that remembers a cancel arriving before the attempt's process started
    (while its inputs were staged), so that the process then never starts."""

    def __init__(self, launcher: Launcher) -> None:
        self._launcher = launcher
        self._pending: set[str] = set()

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        if request.key in self._pending:
            return LaunchOutcome(exit_code=0, canceled=True)
        return await self._launcher.launch(request)

    async def cancel(self, key: str) -> bool:
        if not await self._launcher.cancel(key):
            self._pending.add(key)
        return True

    def forget(self, key: str) -> None:
        self._pending.discard(key)


class _Lease:
    """The heartbeats of one held dispatch, and whether it may have been handed on."""

    def __init__(self, item: WorkItem, *, key: str, heartbeat: float, duration: float) -> None:
        self.item = item
        self.lost = asyncio.Event()
        self._key = key
        self._heartbeat = heartbeat
        self._duration = duration
        self._task = asyncio.create_task(self._keep())

    def lose(self) -> None:
        self.lost.set()

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        confirmed = loop.time()
        beat_at = confirmed + self._heartbeat
        failing = False
        while not self.lost.is_set():
            await asyncio.sleep(max(beat_at - loop.time(), 0.0))
            # The broker gives the dispatch away `duration` after the last heartbeat it got:
            # give up one interval earlier, so the attempt is stopped before that.
            deadline = confirmed + self._duration - self._heartbeat
            sent = loop.time()
            if sent >= deadline:
                logger.warning(
                    "attempt %s: no heartbeat confirmed for %.1fs; stopping it, the dispatch may "
                    "have gone to another executor",
                    self._key,
                    sent - confirmed,
                )
                self.lost.set()
                return
            try:
                async with asyncio.timeout(deadline - sent):
                    await self.item.in_progress()
            except errors.FailedPrecondition:
                return  # settled: nothing left to hold
            except (errors.SluiceError, TimeoutError) as error:
                log = logger.debug if failing else logger.warning
                log("heartbeat of attempt %s failed, trying again: %s", self._key, error or "timed out")
                failing = True
                beat_at = loop.time() + _HEARTBEAT_RETRY
                continue
            if failing:
                logger.info("heartbeat of attempt %s confirmed again", self._key)
            failing = False
            confirmed = sent
            beat_at = sent + self._heartbeat


@dataclass(frozen=True)
class _Held:
    """An attempt this executor runs: its dispatch, lease and handler."""

    dispatch: tasks_pb2.TaskDispatch
    sequence: int
    lease: _Lease
    handler: asyncio.Task[None]


class ExecutorWorker:
    """Runs the dispatches of the `executors` consumer.

    ``heartbeat_seconds`` is the interval of the in-progress heartbeats; ``lease_seconds``
    the consumer's ``ack_wait`` (default three heartbeats), after which the broker hands an
    attempt that got no heartbeat to another executor (see the module docstring).
    """

    def __init__(
        self,
        *,
        bus: EventBus,
        artifacts: ArtifactClient,
        launcher: Launcher,
        stager: ArtifactStager,
        work_root: Path,
        max_concurrent_tasks: int,
        heartbeat_seconds: float,
        lease_seconds: float | None = None,
        executor_id: str = "",
        stage_local_artifacts: bool = False,
        log_upload_seconds: float = 1.0,
    ) -> None:
        self._bus = bus
        self._artifacts = artifacts
        self._launcher = _EarlyCancels(launcher)
        self._stager = stager
        self._work_root = work_root
        self._max_tasks = max_concurrent_tasks
        self._heartbeat = heartbeat_seconds
        self._lease = lease_seconds if lease_seconds is not None else 3 * heartbeat_seconds
        self.executor_id = executor_id or f"executor-{uuid.uuid4().hex[:8]}"
        # Pods cannot see this machine's files: stage file:// artifacts too (see run_attempt).
        self._stage_local_artifacts = stage_local_artifacts
        # How often a running attempt's log is copied to the store for live readers; 0: never.
        self._log_upload_seconds = log_upload_seconds
        self._running: dict[str, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue: WorkQueue | None = None
        self._cancels: Subscription[bytes] | None = None
        self._cancel_listener: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._queue = await self._bus.work_queue(
            DISPATCH_STREAM, DISPATCH_CONSUMER, max_in_flight=self._max_tasks
        )
        self._cancels = await self._bus.subscribe_broadcast(CANCEL_SUBJECT)
        self._spawn(self._pull(self._queue))
        # Not in `_tasks`: it keeps serving cancels while the attempts drain on close.
        self._cancel_listener = asyncio.create_task(self._listen_for_cancels(self._cancels))

    async def aclose(self, *, grace_seconds: float = 10.0) -> None:
        """Stop pulling, give running attempts the grace period, then cancel them (their
        dispatches stay unacked and go to another executor)."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            await self._queue.aclose()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
        if self._cancels is not None:
            await self._cancels.aclose()
        if self._cancel_listener is not None:
            self._cancel_listener.cancel()
            await asyncio.gather(self._cancel_listener, return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pull(self, queue: WorkQueue) -> None:
        while not self._closed:
            try:
                item = await anext(queue)
            except StopAsyncIteration:
                return
            except errors.Unavailable as error:
                logger.warning("dispatch queue unavailable: %s", error)
                await asyncio.sleep(1.0)
                continue
            self._spawn(self._handle(item))

    async def _listen_for_cancels(self, subscription: Any) -> None:
        async for data in subscription:
            request = tasks_pb2.CancelTasks.FromString(data)
            wanted = set(request.task_ids)
            for key, held in list(self._running.items()):
                dispatch = held.dispatch
                if (
                    dispatch.run_id == request.run_id
                    and (not wanted or dispatch.task_id in wanted)
                    and (not request.attempt or dispatch.attempt == request.attempt)
                ):
                    await self._launcher.cancel(key)

    async def _handle(self, item: WorkItem) -> None:
        try:
            dispatch = tasks_pb2.TaskDispatch.FromString(item.data)
        except Exception:
            logger.exception("dropping a dispatch that does not parse")
            await item.term()
            return
        key = attempt_key(dispatch.run_id, dispatch.task_id, dispatch.attempt)
        lease = _Lease(item, key=key, heartbeat=self._heartbeat, duration=self._lease)
        handler = asyncio.current_task()
        assert handler is not None
        held = _Held(dispatch=dispatch, sequence=item.sequence, lease=lease, handler=handler)
        try:
            previous = self._running.get(key)
            if previous is not None:
                if previous.sequence != item.sequence:
                    logger.info("attempt %s is already running here; dropping a second dispatch of it", key)
                    await item.ack()
                    return
                # The same dispatch again: the broker thinks our hold lapsed, and it is
                # right: the old run of it stops, this one takes over.
                logger.warning("attempt %s was handed to us again; restarting it", key)
                previous.lease.lose()
                await asyncio.wait([previous.handler])
            self._running[key] = held
            await self._run(dispatch, item, lease, key)
        except errors.FailedPrecondition:
            logger.info("attempt %s is already running elsewhere here; dropping the duplicate", key)
            await item.ack()
        except errors.SystemError_ as error:
            logger.warning("attempt %s hit a system error, redelivering: %s", key, error)
            with contextlib.suppress(Exception):
                await item.nak(delay=2.0)
        finally:
            if self._running.get(key) is held:
                del self._running[key]
                self._launcher.forget(key)
            await lease.aclose()

    async def _run(self, dispatch: tasks_pb2.TaskDispatch, item: WorkItem, lease: _Lease, key: str) -> None:
        started = self._result(dispatch, common_pb2.RUNNING)
        # Where the log will be, known from the start, so that it can be followed live.
        started.log_uri = log_uri(dispatch)
        # Each start is news: the attempt moved to this executor, or a dispatch whose ack
        # the broker lost came back (the scheduler then stops an attempt that had ended).
        # Its end is the same fact whoever reports it.
        await self._report(started, msg_id=f"{key}/RUNNING/{self.executor_id}/{uuid.uuid4().hex[:12]}")
        shipper = self._log_shipper(dispatch, started.log_uri)
        shipper.start()
        try:
            result = await self._attempt(dispatch, lease)
        finally:
            # Before the final upload in `_finish`, which an older live copy must not follow.
            await shipper.aclose()
        if result is None:
            logger.warning("attempt %s stopped: its dispatch lease lapsed; not reported", key)
            return
        await self._finish(dispatch, result)
        await self._report(result)
        await self._acknowledge(item, key)

    def _log_shipper(self, dispatch: tasks_pb2.TaskDispatch, uri: str) -> LogShipper:
        try:
            attempt_dir = attempt_dir_for(
                self._work_root, run_id=dispatch.run_id, task_id=dispatch.task_id, attempt=dispatch.attempt
            )
        except errors.InvalidArgument:
            interval = 0.0  # the attempt fails at once, with its reason; nothing to follow
            attempt_dir = self._work_root
        else:
            interval = self._log_upload_seconds
        return LogShipper(self._artifacts, attempt_dir / LOG_FILE, uri, interval=interval)

    async def _acknowledge(self, item: WorkItem, key: str) -> None:
        """Ack a dispatch whose result is reported. Never nak it then: that would run
        finished work again. A broker that does not confirm (it restarted and forgot the
        delivery) may hand it out again, or not: nothing more to do here."""
        for tries in range(1, _ACK_TRIES + 1):
            try:
                await item.ack()
                return
            except errors.Unavailable as error:
                if tries == _ACK_TRIES:
                    logger.warning("attempt %s: the ack of its dispatch was not confirmed: %s", key, error)
                    return
                await asyncio.sleep(_HEARTBEAT_RETRY)

    async def _attempt(self, dispatch: tasks_pb2.TaskDispatch, lease: _Lease) -> tasks_pb2.TaskResult | None:
        """Run the attempt; None when the lease is lost first (the attempt is then stopped)."""
        if lease.lost.is_set():
            return None
        attempt = asyncio.create_task(
            run_attempt(
                dispatch,
                launcher=self._launcher,
                stager=self._stager,
                work_root=self._work_root,
                stage_local_artifacts=self._stage_local_artifacts,
            )
        )
        lost = asyncio.create_task(lease.lost.wait())
        try:
            await asyncio.wait([attempt, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not attempt.done():
                # Cancelling it stops the task's process (see `run_attempt`).
                attempt.cancel()
                await asyncio.wait([attempt])
        if attempt.cancelled():
            return None
        return attempt.result()

    async def _finish(self, dispatch: tasks_pb2.TaskDispatch, result: tasks_pb2.TaskResult) -> None:
        """Keep the log in the artifact store and record the outputs as artifacts."""
        result.executor_id = self.executor_id
        log_path = (
            Path(result.log_uri.removeprefix("file://")) if result.log_uri.startswith("file://") else None
        )
        if log_path is not None and log_path.exists():
            stored_at = log_uri(dispatch)
            try:
                await self._artifacts.upload_file(log_path, stored_at)
                result.log_uri = stored_at
            except errors.SluiceError as error:
                logger.warning("task log stays at %s: %s", result.log_uri, error)
        records: list[ArtifactRecord] = []
        now = datetime.now(UTC)
        for key, artifacts in result.output_artifacts.items():
            for artifact in artifacts.artifacts:
                artifact.artifact_id = artifact.artifact_id or uuid.uuid4().hex
                records.append(
                    ArtifactRecord(
                        artifact_id=artifact.artifact_id,
                        name=artifact.name or key,
                        uri=artifact.uri,
                        schema_title=artifact.schema_title,
                        schema_version=artifact.schema_version or "0.0.1",
                        metadata=from_struct(artifact.metadata),
                        run_id=dispatch.run_id,
                        task_id=dispatch.task_id,
                        output_key=key,
                        created_at=now,
                    )
                )
        if records:
            await self._artifacts.register(records)

    def _result(
        self, dispatch: tasks_pb2.TaskDispatch, state: common_pb2.RuntimeState.ValueType
    ) -> tasks_pb2.TaskResult:
        return tasks_pb2.TaskResult(
            run_id=dispatch.run_id,
            task_id=dispatch.task_id,
            attempt=dispatch.attempt,
            state=state,
            executor_id=self.executor_id,
            time=to_timestamp(datetime.now(UTC)),
        )

    async def _report(self, result: tasks_pb2.TaskResult, *, msg_id: str = "") -> None:
        state = common_pb2.RuntimeState.Name(result.state)
        await self._bus.publish(
            RESULTS_SUBJECT,
            result.SerializeToString(),
            msg_id=msg_id or f"{attempt_key(result.run_id, result.task_id, result.attempt)}/{state}",
        )

"""The run scheduler: persists the engine's plans, dispatches work, applies reports.

Every change goes through `_reconcile_locked`, which reads the run from the store, asks the
pure engine what happens next, writes that, and repeats until nothing changes. Handlers
are idempotent: a redelivered report or a repeated reconcile changes nothing.

Several scheduler replicas may handle the same run at once (the lock here is per process):
every write is a compare-and-set, and the loser of a race reads the run again and decides
again. A launch is dispatched as soon as its task record is written, even when a later
write of the same plan loses a race, so that no stored attempt waits for a dispatch that
never comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, TypeVar

from sluice.v1 import events_pb2, tasks_pb2

from services.core import errors
from services.core.events.subjects import CANCEL_SUBJECT, DISPATCH_SUBJECT
from services.core.pipeline.ir import parse_pipeline
from services.core.pipeline.model import ContainerExecutor, Pipeline, Task
from services.core.protovalues import utc_now
from services.core.store.base import Store
from services.core.store.records import (
    TERMINAL_STATES,
    ArtifactRecord,
    AttemptRecord,
    RunRecord,
    RuntimeState,
    StateChange,
    TaskKind,
    TaskRecord,
)
from services.scheduler import run_events
from services.scheduler.api.specs import split_pipeline_spec
from services.scheduler.dispatch import build_dispatch
from services.scheduler.engine.dag import advance
from services.scheduler.engine.metrics import run_metrics
from services.scheduler.engine.plan import Launch, Plan
from services.scheduler.engine.results import AttemptReport, apply_report
from services.scheduler.engine.retry import RETRYABLE_STATES, reset_for_retry
from services.scheduler.engine.states import (
    CANCEL_REQUESTED,
    ENDED_ATTEMPT_STATES,
    RETRY_AT,
    is_terminal,
    transition,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_ROUNDS = 10_000
# Compare-and-set losses in a row (against another replica) before giving up.
_CAS_RETRIES = 8
# Upper bound of the random pause before deciding again, times the losses so far: two
# replicas that collided once should not collide again in lockstep.
_CAS_BACKOFF = 0.02


class Bus(Protocol):
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int: ...

    async def broadcast(self, subject: str, data: bytes) -> None: ...


class ArtifactRegistrar(Protocol):
    async def register(self, records: list[ArtifactRecord]) -> None: ...


def pipeline_of(run: RunRecord) -> Pipeline:
    """The run's pipeline, parsed from its stored spec."""
    pipeline_spec, platform_spec = split_pipeline_spec(run.pipeline_spec)
    return parse_pipeline(pipeline_spec, platform_spec)


def task_spec_at(pipeline: Pipeline, path: str) -> Task | None:
    """The IR task a record's path points to ("root/for-loop-2/0/train" → train)."""
    component = pipeline.root
    spec: Task | None = None
    for part in path.split("/")[1:]:
        if component.dag is None or part not in component.dag.tasks:
            continue  # a loop iteration's index: same DAG
        spec = component.dag.tasks[part]
        component = pipeline.component(spec.component)
    return spec


@dataclass(frozen=True)
class _Timer:
    """A pending wake-up of one run, for the earliest retry due."""

    due: datetime
    task: asyncio.Task[None]


@dataclass
class _RunLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class RunScheduler:
    """Implements the API's RunController and the handling of executor reports."""

    def __init__(
        self,
        *,
        store: Store,
        bus: Bus,
        artifacts: ArtifactRegistrar | None,
        default_pipeline_root: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._bus = bus
        self._artifacts = artifacts
        self._default_root = default_pipeline_root
        self._clock = clock
        self._locks: dict[str, _RunLock] = {}
        self._reports: dict[str, list[tuple[AttemptReport, asyncio.Future[None]]]] = {}
        self._pipelines: OrderedDict[str, Pipeline] = OrderedDict()
        self._timers: dict[str, _Timer] = {}

    # --- RunController ------------------------------------------------------------------
    async def start_run(self, run: RunRecord) -> RunRecord:
        await self._store.create_run(run)
        await run_events.publish(self._bus, run_events.run_event(run, events_pb2.RunEvent.RUN_CREATED))
        await self.reconcile(run.run_id)
        return await self._store.get_run(run.run_id)

    async def terminate_run(self, run_id: str) -> None:
        """CANCELING: nothing new starts (except exit handlers), running attempts are asked
        to stop; the run is CANCELED when every task has ended."""
        async with self._lock(run_id):
            await _on_conflict_retry(lambda: self._request_cancel(run_id), what=f"terminate run {run_id}")
            await self._reconcile_locked(run_id)

    async def _request_cancel(self, run_id: str) -> None:
        run = await self._store.get_run(run_id)
        if run.state in TERMINAL_STATES:
            raise errors.FailedPrecondition(f"run {run_id!r} has already finished ({run.state.value})")
        if run.state is not RuntimeState.CANCELING:
            run.state = RuntimeState.CANCELING
            run.state_history.append(StateChange(state=run.state, time=self._clock()))
            run = await self._store.update_run(run)
            await run_events.publish(
                self._bus, run_events.run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED)
            )
        else:
            # Asked again: cancel requests travel at most once, so repeat them.
            tasks = await self._store.list_tasks(run_id)
            await self._cancel(
                run_id,
                [task for task in tasks if not is_terminal(task) and task.scheduling.get(CANCEL_REQUESTED)],
            )

    async def retry_run(self, run_id: str) -> None:
        """Run a failed or canceled run again from where it stopped: tasks that succeeded
        keep their outputs; the others (and what depends on them) run again."""
        async with self._lock(run_id):
            run = await self._store.get_run(run_id)
            if run.state not in RETRYABLE_STATES:
                raise errors.FailedPrecondition(
                    f"only a failed or canceled run can be retried; run {run_id!r} is {run.state.value}"
                )
            tasks = await self._store.list_tasks(run_id)
            changed = reset_for_retry(self._pipeline(run), run, tasks, self._clock())
            run = await self._store.update_run(run)
            await run_events.publish(
                self._bus, run_events.run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED)
            )
            for task in changed:
                stored = await self._store.update_task(task)
                await run_events.publish(self._bus, run_events.task_event(run, stored))
            logger.info("retrying run %s: %d tasks run again", run_id, len(changed))
            await self._reconcile_locked(run_id)

    # --- reports and reconciliation -----------------------------------------------------
    async def on_report(self, run_id: str, report: AttemptReport) -> None:
        """Apply an executor's report and advance the run; returns once both are stored.

        Reports for one run that arrive while it is being handled are applied together,
        with one reconcile for all of them: a wide loop's reports come in bursts. A report
        that ends an attempt always advances the run, even when it was applied already: it
        may be a redelivery after the reconcile that followed its first delivery failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports.setdefault(run_id, []).append((report, done))
        async with self._lock(run_id):
            if not done.done():
                await self._apply_reports(run_id, self._reports.pop(run_id, []))
        await done

    async def _apply_reports(
        self, run_id: str, batch: list[tuple[AttemptReport, asyncio.Future[None]]]
    ) -> None:
        """Settle every report's future: each fails alone when it cannot be applied, all
        of them when the run cannot be advanced."""
        try:
            run = await self._store.get_run(run_id)
            pipeline = self._pipeline(run)
            advance = False
            for report, done in batch:
                try:
                    changed = await _on_conflict_retry(
                        functools.partial(self._apply_report, run, pipeline, report),
                        what=f"apply a report to task {report.task_id}",
                    )
                except Exception as error:
                    done.set_exception(error)
                else:
                    advance = advance or changed or report.state is not RuntimeState.RUNNING
            if advance:
                await self._reconcile_locked(run_id)
        except Exception as error:
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
        except BaseException:
            for _, done in batch:
                done.cancel()
            raise
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _apply_report(self, run: RunRecord, pipeline: Pipeline, report: AttemptReport) -> bool:
        """Store what one report says; True when the run may have to advance."""
        task = await self._store.get_task(report.task_id)
        spec = task_spec_at(pipeline, task.path)
        retry = spec.retry if spec else None
        canceling = run.state is RuntimeState.CANCELING
        started: TaskRecord | None = None
        if report.state is not RuntimeState.RUNNING and _not_started(task, report.attempt):
            # The attempt's end overtook its start (another replica holds the RUNNING
            # report): it did start, so record that first; the late start is then stale.
            start = replace(
                report,
                state=RuntimeState.RUNNING,
                output_parameters={},
                output_artifacts={},
                error=None,
                log_uri="",
                exit_code=None,
            )
            apply_report(task, start, retry=retry, canceling=canceling)
            started = deepcopy(task)
        changed = apply_report(task, report, retry=retry, canceling=canceling)
        if not changed:
            if (
                report.state is RuntimeState.RUNNING
                and report.attempt == task.attempt
                and (task.state is RuntimeState.CANCELED or task.scheduling.get(CANCEL_REQUESTED))
            ):
                # Canceled while its dispatch waited in the queue, or redelivered to another
                # executor after it was asked to stop: stop it now that it runs.
                await self._cancel(run.run_id, [task])
            elif _ended_attempt(task, report.attempt) and report.state is RuntimeState.RUNNING:
                # An attempt that ended runs again: the broker lost the ack of its dispatch
                # (a crash of nats-server) and handed it out once more. Its outcome would
                # be ignored; stop it rather than spend the work (or repeat its effects).
                logger.warning(
                    "task %s attempt %d ended already but runs again on %s; stopping it",
                    task.task_id,
                    report.attempt,
                    report.executor_id or "an executor",
                )
                await self._cancel(run.run_id, [task], attempt=report.attempt)
            elif (attempt := _moved_attempt(task, report)) is not None:
                # Its executor stopped heart-beating and the dispatch went to another one.
                logger.info(
                    "task %s attempt %d moved from %s to %s",
                    task.task_id,
                    attempt.attempt,
                    attempt.executor_id or "?",
                    report.executor_id,
                )
                attempt.executor_id = report.executor_id
                task.pod_name = report.pod_name or task.pod_name
                await self._store.update_task(task)
            return False
        if report.executor_id:
            # The executor that ended the attempt ran it, whoever started it.
            for attempt in task.attempts:
                if attempt.attempt == report.attempt:
                    attempt.executor_id = report.executor_id
        task = await self._store.update_task(task)
        if started is not None:
            await run_events.publish(self._bus, run_events.task_event(run, started))
        await run_events.publish(self._bus, run_events.task_event(run, task))
        # A task that started changes nothing the engine decides on.
        return report.state is not RuntimeState.RUNNING

    async def reconcile(self, run_id: str) -> None:
        """Advance the run (see `_reconcile_locked`)."""
        async with self._lock(run_id):
            await self._reconcile_locked(run_id)

    async def reconcile_active_runs(self) -> int:
        """After a (re)start: advance every unfinished run from the store, and dispatch
        again the attempts that were decided but whose dispatch may not have been sent
        (a crash between the two). Executors and the dispatch stream's message ids make
        a repeated dispatch harmless."""
        run_ids = await self._store.list_active_run_ids()
        for run_id in run_ids:
            try:
                await self.reconcile(run_id)
                async with self._lock(run_id):
                    await self._redispatch_pending(run_id)
            except Exception:
                logger.exception("reconciling run %s failed", run_id)
        return len(run_ids)

    async def _redispatch_pending(self, run_id: str) -> None:
        run = await self._store.get_run(run_id)
        if run.state in TERMINAL_STATES or run.state is RuntimeState.CANCELING:
            return
        pipeline = self._pipeline(run)
        for task in await self._store.list_tasks(run_id):
            if (
                task.kind is not TaskKind.CONTAINER
                or task.state is not RuntimeState.PENDING
                or task.attempt < 1
                or RETRY_AT in task.scheduling
            ):
                continue
            spec = task_spec_at(pipeline, task.path)
            component = pipeline.component(spec.component) if spec else None
            if spec is None or component is None or component.executor is None:
                continue
            executor = pipeline.executors[component.executor]
            if not isinstance(executor, ContainerExecutor):
                continue
            launch = Launch(task=task, spec=spec, executor_label=component.executor, executor=executor)
            await self._dispatch(run, pipeline, launch)
            logger.info("dispatched pending task %s of run %s again", task.task_id, run_id)

    async def aclose(self) -> None:
        timers = [timer.task for timer in self._timers.values()]
        self._timers.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    # --- internals ----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lock(self, run_id: str) -> AsyncIterator[None]:
        """One handler at a time per run (in this process); the lock lives while used."""
        entry = self._locks.get(run_id)
        if entry is None:
            entry = self._locks[run_id] = _RunLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[run_id]

    def _pipeline(self, run: RunRecord) -> Pipeline:
        pipeline = self._pipelines.get(run.run_id)
        if pipeline is None:
            pipeline = self._pipelines[run.run_id] = pipeline_of(run)
            while len(self._pipelines) > 256:
                self._pipelines.popitem(last=False)
        return pipeline

    async def _reconcile_locked(self, run_id: str) -> None:
        """Advance the run until the engine has nothing more to decide. Another scheduler
        replica writing the same run makes a compare-and-set fail: read the run again and
        decide again (bounded)."""
        await _on_conflict_retry(lambda: self._reconcile_once(run_id), what=f"advance run {run_id}")

    async def _reconcile_once(self, run_id: str) -> None:
        """The run's tasks are read once; each round's plan is applied to that copy as it
        is written."""
        run = await self._store.get_run(run_id)
        if run.state in TERMINAL_STATES:
            self._forget(run_id)
            return
        pipeline = self._pipeline(run)
        tasks = {task.task_id: task for task in await self._store.list_tasks(run_id)}
        for _ in range(_MAX_ROUNDS):
            plan = advance(pipeline, run, list(tasks.values()), self._clock())
            if plan.empty:
                self._wake_for_retries(run_id, tasks.values())
                return
            launches = await self._use_cache(plan)
            if plan.run is not None and plan.run.state in TERMINAL_STATES:
                changed = {task.task_id: task for task in (*plan.created, *plan.updated)}
                plan.run.metrics = run_metrics({**tasks, **changed}.values())
            written: set[str] = set()
            try:
                run, stored = await self._persist(run, plan, written)
            except Exception:
                # What was written stays: its launches must go out (the dispatch's
                # message id makes it harmless if another replica sends them too).
                for launch in launches:
                    if launch.task.task_id in written:
                        await self._dispatch(run, pipeline, launch)
                raise
            tasks.update((task.task_id, task) for task in stored)
            for launch in launches:
                await self._dispatch(run, pipeline, launch)
            if plan.cancels:
                await self._cancel(run_id, plan.cancels)
            if run.state in TERMINAL_STATES:
                self._forget(run_id)
                return
        raise errors.SystemError_(f"run {run_id!r} did not settle after {_MAX_ROUNDS} scheduling rounds")

    async def _dispatch(self, run: RunRecord, pipeline: Pipeline, launch: Launch) -> None:
        dispatch = build_dispatch(launch=launch, run=run, pipeline=pipeline, default_root=self._default_root)
        await self._bus.publish(
            DISPATCH_SUBJECT,
            dispatch.SerializeToString(),
            msg_id=f"{run.run_id}/{launch.task.task_id}/{launch.task.attempt}",
        )

    async def _cancel(self, run_id: str, tasks: Sequence[TaskRecord], *, attempt: int = 0) -> None:
        """Ask every executor to stop these tasks' attempts (those it runs; only `attempt`
        when given)."""
        if not tasks:
            return
        cancel = tasks_pb2.CancelTasks(
            run_id=run_id, task_ids=[task.task_id for task in tasks], attempt=attempt
        )
        await self._bus.broadcast(CANCEL_SUBJECT, cancel.SerializeToString())

    async def _use_cache(self, plan: Plan) -> list[Launch]:
        """Cache hits finish at once with the outputs of the task they reuse."""
        launches: list[Launch] = []
        for launch in plan.launches:
            task = launch.task
            hit = await self._store.find_cached_task(task.fingerprint) if task.fingerprint else None
            if hit is None or hit.task_id == task.task_id:
                launches.append(launch)
                continue
            task.output_parameters = dict(hit.output_parameters)
            task.output_artifacts = dict(hit.output_artifacts)
            task.cached_from_task_id = hit.task_id
            task.log_uri = hit.log_uri
            transition(task, RuntimeState.SKIPPED, self._clock())
        return launches

    async def _persist(
        self, run: RunRecord, plan: Plan, written: set[str]
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Write the plan; the run and the task records as stored (new versions). The id of
        each task written is added to `written` as soon as it is, and its event published:
        a write that loses a race leaves the earlier ones in place."""
        if plan.run is not None and plan.run.state not in TERMINAL_STATES:
            run = await self._store.update_run(plan.run)
            await run_events.publish(
                self._bus, run_events.run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED)
            )
        stored: list[TaskRecord] = []
        if plan.created:
            created = await self._store.create_tasks(plan.created)
            written.update(task.task_id for task in created)
            stored.extend(created)
            for task in created:
                await run_events.publish(self._bus, run_events.task_event(run, task))
        for task in plan.updated:
            updated = await self._store.update_task(task)
            written.add(updated.task_id)
            stored.append(updated)
            await run_events.publish(self._bus, run_events.task_event(run, updated))
        if plan.imported and self._artifacts is not None:
            await self._artifacts.register([_importer_record(task) for task in plan.imported])
        if plan.run is not None and plan.run.state in TERMINAL_STATES:
            run = await self._store.update_run(plan.run)
            await run_events.publish(
                self._bus, run_events.run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED)
            )
            logger.info("run %s finished: %s", run.run_id, run.state.value)
        return run, stored

    def _wake_for_retries(self, run_id: str, tasks: Iterable[TaskRecord]) -> None:
        """Reconcile again when the earliest retry that waits for its backoff is due."""
        due = [
            datetime.fromisoformat(retry_at)
            for task in tasks
            if not is_terminal(task) and isinstance(retry_at := task.scheduling.get(RETRY_AT), str)
        ]
        if not due:
            return
        moment = min(due)
        current = self._timers.get(run_id)
        if current is not None:
            if current.due <= moment:
                return
            current.task.cancel()
        # A little late rather than early: an early wake finds nothing due yet.
        delay = max((moment - self._clock()).total_seconds(), 0.0) + 0.01
        self._timers[run_id] = _Timer(due=moment, task=asyncio.create_task(self._wake(run_id, delay)))

    async def _wake(self, run_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        current = self._timers.get(run_id)
        if current is not None and current.task is asyncio.current_task():
            del self._timers[run_id]
        try:
            await self.reconcile(run_id)
        except Exception:
            logger.exception("scheduled reconcile failed for run %s", run_id)

    def _forget(self, run_id: str) -> None:
        self._pipelines.pop(run_id, None)


async def _on_conflict_retry(action: Callable[[], Awaitable[T]], *, what: str) -> T:
    """`action`, again (after a short random pause) each time it loses a compare-and-set
    to another replica; the last loss propagates."""
    for losses in range(1, _CAS_RETRIES + 1):
        try:
            return await action()
        except errors.ConcurrentModification:
            if losses == _CAS_RETRIES:
                raise
            logger.info("%s: changed by another scheduler meanwhile; deciding again", what)
            await asyncio.sleep(random.uniform(0, _CAS_BACKOFF * losses))
    raise AssertionError("unreachable")


def _not_started(task: TaskRecord, attempt: int) -> bool:
    """Whether this attempt of the task is current and has no recorded start."""
    if task.attempt != attempt or is_terminal(task):
        return False
    return all(a.state is RuntimeState.PENDING for a in task.attempts if a.attempt == attempt)


def _ended_attempt(task: TaskRecord, attempt: int) -> bool:
    """Whether the task's `attempt` has ended (its outcome is stored)."""
    return any(each.attempt == attempt and each.state in ENDED_ATTEMPT_STATES for each in task.attempts)


def _moved_attempt(task: TaskRecord, report: AttemptReport) -> AttemptRecord | None:
    """The running attempt a start report names, if another executor started it before."""
    if report.state is not RuntimeState.RUNNING or report.attempt != task.attempt or is_terminal(task):
        return None
    for attempt in task.attempts:
        if attempt.attempt == report.attempt and attempt.state is RuntimeState.RUNNING:
            moved = bool(report.executor_id) and report.executor_id != attempt.executor_id
            return attempt if moved else None
    return None


def _importer_record(task: TaskRecord) -> ArtifactRecord:
    artifact = task.output_artifacts["artifact"][0]
    return ArtifactRecord(
        artifact_id=artifact.artifact_id,
        name=artifact.name,
        uri=artifact.uri,
        schema_title=artifact.schema_title,
        schema_version=artifact.schema_version,
        metadata=dict(artifact.metadata),
        created_at=task.end_time or task.create_time,
        run_id=task.run_id,
        task_id=task.task_id,
        output_key="artifact",
    )

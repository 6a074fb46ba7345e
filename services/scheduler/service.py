"""The scheduler service: the public gRPC API over the store, and the run scheduler
that turns executor results into the next steps of each run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

import grpc
from sluice.v1 import tasks_pb2

from services.core import errors
from services.core.events.bus import EventBus
from services.core.events.subjects import RESULTS_CONSUMER, RESULTS_STREAM
from services.core.events.work import WorkItem, WorkQueue
from services.core.health import add_health, mark_serving
from services.core.protovalues import utc_now
from services.core.store.base import Store
from services.scheduler.api import SERVER_OPTIONS, add_scheduler_servicers
from services.scheduler.event_recovery import recovery_horizon, republish_recent_events
from services.scheduler.recurring import RecurringRunTimer
from services.scheduler.reports import report_from_result
from services.scheduler.runs import ArtifactRegistrar, RunScheduler
from services.scheduler.webhooks import WebhookConfig, WebhookSender

logger = logging.getLogger(__name__)

SCHEDULER_SERVICES = (
    "sluice.v1.ExperimentService",
    "sluice.v1.PipelineService",
    "sluice.v1.RunService",
    "sluice.v1.RecurringRunService",
)


class SchedulerService:
    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        artifacts: ArtifactRegistrar | None,
        default_pipeline_root: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_concurrent_reports: int = 32,
        grace_seconds: float = 5.0,
        webhooks: WebhookConfig | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._host = host
        self._requested_port = port
        self._grace = grace_seconds
        self._slots = asyncio.Semaphore(max_concurrent_reports)
        self.runs = RunScheduler(
            store=store, bus=bus, artifacts=artifacts, default_pipeline_root=default_pipeline_root
        )
        self.timer = RecurringRunTimer(store=store, controller=self.runs)
        self.webhooks = WebhookSender(store=store, bus=bus, config=webhooks or WebhookConfig())
        self._timer_task: asyncio.Task[None] | None = None
        self._server: grpc.aio.Server | None = None
        self._queue: WorkQueue | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.port = 0
        self._closed = False

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server(options=(*SERVER_OPTIONS, ("grpc.so_reuseport", 0)))
        add_scheduler_servicers(server, store=self._store, controller=self.runs)
        health = add_health(server)
        self.port = server.add_insecure_port(f"{self._host}:{self._requested_port}")
        await server.start()
        self._server = server
        await mark_serving(health, *SCHEDULER_SERVICES)
        self._queue = await self._bus.work_queue(RESULTS_STREAM, RESULTS_CONSUMER, max_in_flight=256)
        self._spawn(self._consume(self._queue))
        self._spawn(self._reconcile_on_start())
        # The timer never finishes on its own: it is cancelled, not drained, on close.
        self._timer_task = asyncio.create_task(self.timer.run())
        await self.webhooks.start()
        logger.info("scheduler listening on %s", self.address)

    async def aclose(self) -> None:
        """Stop intake (gRPC, results), let in-flight handlers finish within the grace."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            await self._server.stop(self._grace)
        if self._queue is not None:
            await self._queue.aclose()
        if self._timer_task is not None:
            self._timer_task.cancel()
            await asyncio.gather(self._timer_task, return_exceptions=True)
        tasks = list(self._background)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.webhooks.aclose()
        await self.runs.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reconcile_on_start(self) -> None:
        # First the events a crash may have kept from subscribers, then what comes next.
        since = recovery_horizon(utc_now(), duplicate_window_seconds=self._bus.config.duplicate_window)
        republished = await republish_recent_events(self._store, self._bus, since=since)
        if republished:
            logger.info("published %d recent run events again (the stream keeps each once)", republished)
        count = await self.runs.reconcile_active_runs()
        if count:
            logger.info("reconciled %d unfinished runs", count)

    async def _consume(self, queue: WorkQueue) -> None:
        while not self._closed:
            try:
                item = await anext(queue)
            except StopAsyncIteration:
                return
            except errors.Unavailable as error:
                logger.warning("results queue unavailable: %s", error)
                await asyncio.sleep(1.0)
                continue
            await self._slots.acquire()
            self._spawn(self._handle(item))

    async def _handle(self, item: WorkItem) -> None:
        try:
            result = tasks_pb2.TaskResult.FromString(item.data)
            try:
                await self.runs.on_report(result.run_id, report_from_result(result))
            except errors.NotFound:
                logger.info("result for a deleted run or task %s/%s dropped", result.run_id, result.task_id)
            await item.ack()
        except Exception:
            logger.exception("handling a task result failed; it will be redelivered")
            with contextlib.suppress(Exception):
                await item.nak(delay=1.0)
        finally:
            self._slots.release()

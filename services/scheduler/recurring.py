"""The recurring-run timer: fires runs on cron or interval schedules.

Each fire time gets a deterministic run id (from the recurring run and the time), and the
recurring run's cursor (`last_fired_at`) is advanced with compare-and-set after the run is
stored; so a scheduler that crashes between the two, or two schedulers ticking at once,
never start the same scheduled run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from croniter import croniter

from services.core import errors
from services.core.protovalues import utc_now
from services.core.store.base import Store
from services.core.store.records import RecurringRunRecord, RecurringRunStatus, RunRecord
from services.scheduler.api.controller import RunController

logger = logging.getLogger(__name__)

_RUN_IDS = uuid.UUID("3c1f1a52-7a1e-4f5b-a0a3-2d7f0e0b5e11")
MAX_FIRES_PER_TICK = 100


def scheduled_run_id(recurring_run_id: str, fire_time: datetime) -> str:
    return str(uuid.uuid5(_RUN_IDS, f"{recurring_run_id}/{fire_time.isoformat()}"))


def _next_time(record: RecurringRunRecord, after: datetime) -> datetime:
    if record.cron:
        following: datetime = croniter(record.cron, after, second_at_beginning=True).get_next(datetime)
        return following
    anchor = record.start_time or record.created_at
    if after < anchor:
        return anchor
    periods = int((after - anchor).total_seconds() // record.interval_seconds) + 1
    return anchor + timedelta(seconds=periods * record.interval_seconds)


def due_fire_times(
    record: RecurringRunRecord, now: datetime, *, limit: int = MAX_FIRES_PER_TICK
) -> list[datetime]:
    """Fire times in (cursor, now], oldest first, within start/end; with `no_catchup` only
    the latest one (KFP's semantics: after downtime, backfill unless no_catchup)."""
    if record.status is not RecurringRunStatus.ENABLED or not (record.cron or record.interval_seconds > 0):
        return []
    cursor = record.last_fired_at or max(record.created_at, record.start_time or record.created_at)
    if record.last_fired_at is None:
        cursor -= timedelta(microseconds=1)  # the start time itself is a fire time
    end = min(now, record.end_time) if record.end_time else now
    times: list[datetime] = []
    moment = _next_time(record, cursor)
    while moment <= end:
        if record.start_time is None or moment >= record.start_time:
            times.append(moment)
            if record.no_catchup and len(times) > 1:
                times.pop(0)
            elif len(times) >= limit:
                break
        moment = _next_time(record, moment)
    return times


def next_wakeup(record: RecurringRunRecord, now: datetime) -> datetime | None:
    if record.status is not RecurringRunStatus.ENABLED:
        return None
    moment = _next_time(record, max(now, record.last_fired_at or now))
    if record.end_time and moment > record.end_time:
        return None
    return moment


class RecurringRunTimer:
    def __init__(
        self,
        *,
        store: Store,
        controller: RunController,
        clock: Callable[[], datetime] = utc_now,
        max_sleep_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._controller = controller
        self._clock = clock
        self._max_sleep = max_sleep_seconds
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Look again now (a recurring run was created or enabled)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delay = await self.tick()
            except errors.SluiceError as error:
                logger.warning("recurring-run timer tick failed: %s", error)
                delay = self._max_sleep
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def tick(self) -> float:
        """Fire every due run; return how long to sleep before the next look."""
        now = self._clock()
        soonest = self._max_sleep
        for record in await self._store.list_enabled_recurring_runs():
            await self._fire_due(record, now)
            wakeup = next_wakeup(record, self._clock())
            if wakeup is not None:
                soonest = min(soonest, max((wakeup - self._clock()).total_seconds(), 0.0))
        return soonest

    async def _fire_due(self, record: RecurringRunRecord, now: datetime) -> None:
        for fire_time in due_fire_times(record, now):
            active = await self._store.count_active_runs(recurring_run_id=record.recurring_run_id)
            if active >= max(record.max_concurrency, 1):
                return  # the cursor stays: the run fires once a slot frees up
            await self._start(record, fire_time)
            record.last_fired_at = fire_time
            try:
                record = await self._store.update_recurring_run(record)
            except errors.ConcurrentModification:
                return  # another scheduler advanced it; its view wins

    async def _start(self, record: RecurringRunRecord, fire_time: datetime) -> None:
        run = RunRecord(
            run_id=scheduled_run_id(record.recurring_run_id, fire_time),
            experiment_id=record.experiment_id,
            display_name=f"{record.display_name} {fire_time:%Y-%m-%d %H:%M:%S}",
            created_at=self._clock(),
            pipeline_spec=record.pipeline_spec,
            namespace=record.namespace,
            pipeline_id=record.pipeline_id,
            pipeline_version_id=record.pipeline_version_id,
            parameters=dict(record.parameters),
            pipeline_root=record.pipeline_root,
            service_account=record.service_account,
            recurring_run_id=record.recurring_run_id,
            scheduled_at=fire_time,
        )
        try:
            await self._controller.start_run(run)
            logger.info("recurring run %s fired run %s", record.recurring_run_id, run.run_id)
        except errors.AlreadyExists:
            logger.info("run %s of recurring run %s exists already", run.run_id, record.recurring_run_id)

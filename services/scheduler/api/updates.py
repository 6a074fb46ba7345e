"""Read-modify-write of records that other writers (the scheduler) update concurrently.

Stores compare-and-set on a record's `version`; losing the race means re-reading and
applying the change again, a few times, before reporting ABORTED.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.core.errors import ConcurrentModification
from services.core.store.base import Store
from services.core.store.records import RecurringRunRecord, RecurringRunStatus, RunRecord, StorageState

MAX_ATTEMPTS = 5


async def update_run(store: Store, run_id: str, change: Callable[[RunRecord], None]) -> RunRecord:
    """Apply `change` to the stored run and store it. Raises NotFound or, after
    `MAX_ATTEMPTS` lost races, ConcurrentModification."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = await store.get_run(run_id)
        change(run)
        try:
            return await store.update_run(run)
        except ConcurrentModification:
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def update_recurring_run(
    store: Store, recurring_run_id: str, change: Callable[[RecurringRunRecord], None]
) -> RecurringRunRecord:
    """As `update_run`, for a recurring run (the timer updates its cursor concurrently)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        recurring_run = await store.get_recurring_run(recurring_run_id)
        change(recurring_run)
        try:
            return await store.update_recurring_run(recurring_run)
        except ConcurrentModification:
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


# --- the changes the API makes -------------------------------------------------------------


def archive(run: RunRecord) -> None:
    run.storage_state = StorageState.ARCHIVED


def unarchive(run: RunRecord) -> None:
    run.storage_state = StorageState.AVAILABLE


def enable(recurring_run: RecurringRunRecord) -> None:
    recurring_run.status = RecurringRunStatus.ENABLED
    recurring_run.updated_at = datetime.now(UTC)


def disable(recurring_run: RecurringRunRecord) -> None:
    recurring_run.status = RecurringRunStatus.DISABLED
    recurring_run.updated_at = datetime.now(UTC)

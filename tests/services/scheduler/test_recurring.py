"""Fire times of recurring runs: cron (seconds first), intervals, windows, catchup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.core.store.records import RecurringRunRecord, RecurringRunStatus
from services.scheduler.recurring import due_fire_times, next_wakeup, scheduled_run_id

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _record(**kwargs: object) -> RecurringRunRecord:
    return RecurringRunRecord(
        recurring_run_id="rr",
        display_name="nightly",
        created_at=T0,
        updated_at=T0,
        pipeline_spec={},
        **kwargs,  # type: ignore[arg-type]
    )


def test_interval_fires_from_the_start_time_then_every_period() -> None:
    record = _record(interval_seconds=10, start_time=T0)
    times = due_fire_times(record, T0 + timedelta(seconds=25))
    assert times == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]


def test_cursor_prevents_firing_twice() -> None:
    record = _record(interval_seconds=10, start_time=T0, last_fired_at=T0 + timedelta(seconds=20))
    assert due_fire_times(record, T0 + timedelta(seconds=25)) == []
    assert due_fire_times(record, T0 + timedelta(seconds=30)) == [T0 + timedelta(seconds=30)]


def test_no_catchup_fires_only_the_latest_missed_time() -> None:
    record = _record(interval_seconds=60, start_time=T0, last_fired_at=T0, no_catchup=True)
    assert due_fire_times(record, T0 + timedelta(minutes=10, seconds=5)) == [T0 + timedelta(minutes=10)]


def test_catchup_backfills_every_missed_time() -> None:
    record = _record(interval_seconds=60, start_time=T0, last_fired_at=T0)
    assert len(due_fire_times(record, T0 + timedelta(minutes=10, seconds=5))) == 10


def test_cron_has_seconds_first_and_respects_the_end_time() -> None:
    record = _record(cron="*/15 * * * * *", end_time=T0 + timedelta(seconds=40))
    times = due_fire_times(record, T0 + timedelta(minutes=5))
    assert times == [T0, T0 + timedelta(seconds=15), T0 + timedelta(seconds=30)]
    assert next_wakeup(record, T0 + timedelta(seconds=41)) is None


def test_disabled_recurring_runs_never_fire() -> None:
    record = _record(interval_seconds=1, status=RecurringRunStatus.DISABLED)
    assert due_fire_times(record, T0 + timedelta(hours=1)) == []


def test_scheduled_run_ids_are_deterministic() -> None:
    assert scheduled_run_id("rr", T0) == scheduled_run_id("rr", T0)
    assert scheduled_run_id("rr", T0) != scheduled_run_id("rr", T0 + timedelta(seconds=1))

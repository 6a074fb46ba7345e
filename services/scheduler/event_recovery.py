"""After a restart: publish again the run events a crash may have lost.

The scheduler writes a state change to the store, then publishes its event. A scheduler
that dies between the two leaves the store ahead of the event stream: a subscriber (the
UI, `WatchRun`, the run-finished webhooks) never hears of that change. So a scheduler
that starts publishes again the events of every recent state change of the runs that are
unfinished or finished lately. Each event's message id is derived from the change it
reports, and the stream drops a message whose id it has seen within its duplicate
window: what was published already is not stored twice. Changes older than the window
are left alone (republishing those would deliver them twice); a crash that long before
the restart can still lose an event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

from sluice.v1 import events_pb2

from services.core.store.base import Store
from services.core.store.filters import RUN_FIELDS
from services.core.store.query import MAX_PAGE_SIZE, ListQuery, Operation, Predicate
from services.core.store.records import TERMINAL_STATES, RunRecord, TaskRecord
from services.scheduler import run_events

# Changes this close to the edge of the duplicate window are left alone: the broker's
# clock and ours may differ, and a republished event must never be stored twice.
_SAFETY_MARGIN = timedelta(seconds=10)


def recovery_horizon(now: datetime, *, duplicate_window_seconds: float) -> datetime:
    """The oldest change whose event may be published again without being stored twice."""
    return now - timedelta(seconds=duplicate_window_seconds) + _SAFETY_MARGIN


async def recent_runs(store: Store, *, since: datetime) -> list[RunRecord]:
    """The unfinished runs, and those that finished after `since`."""
    runs = [await store.get_run(run_id) for run_id in await store.list_active_run_ids()]
    query = ListQuery(
        page_size=MAX_PAGE_SIZE,
        sort_field=RUN_FIELDS.id_field,
        predicates=(Predicate(field="finished_at", operation=Operation.GREATER_THAN, value=since),),
    )
    while True:
        page = await store.list_runs(query)
        runs.extend(run for run in page.items if run.state in TERMINAL_STATES)
        if not page.next_page_token:
            return runs
        query = dataclasses.replace(query, page_token=page.next_page_token)


def recent_events(
    run: RunRecord, tasks: Iterable[TaskRecord], *, since: datetime
) -> list[events_pb2.RunEvent]:
    """The events of the run's and its tasks' latest state changes made after `since`, in
    the order the scheduler publishes them: by time, a run's end last."""
    timed: list[tuple[datetime, int, events_pb2.RunEvent]] = []
    for task in tasks:
        if task.state_history and task.state_history[-1].time > since:
            timed.append((task.state_history[-1].time, 1, run_events.task_event(run, task)))
    if run.state_history and run.state_history[-1].time > since:
        finished = run.state in TERMINAL_STATES
        kind = (
            events_pb2.RunEvent.RUN_CREATED
            if len(run.state_history) == 1
            else events_pb2.RunEvent.RUN_STATE_CHANGED
        )
        # A run's new state is published before the task changes that follow from it; its
        # end after the last of them.
        timed.append((run.state_history[-1].time, 2 if finished else 0, run_events.run_event(run, kind)))
    timed.sort(key=lambda entry: (entry[0], entry[1]))
    return [event for _, _, event in timed]


async def republish_recent_events(
    store: Store, publisher: run_events.EventPublisher, *, since: datetime
) -> int:
    """Publish again the events of the state changes made after `since`; how many."""
    count = 0
    for run in await recent_runs(store, since=since):
        for event in recent_events(run, await store.list_tasks(run.run_id), since=since):
            await run_events.publish(publisher, event)
            count += 1
    return count

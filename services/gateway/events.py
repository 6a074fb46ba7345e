"""Where the gateway's live run events come from, and how a watch of one run ends.

`RunEventSource` is the boundary: `InMemoryRunEventSource` serves tests and embedded use,
`services.gateway.nats_events.NatsRunEventSource` reads the ``SLUICE_EVENTS`` stream.
`run_events` and `follow` are what both transports (SSE and gRPC ``WatchRun``) build on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

from sluice.v1 import common_pb2, events_pb2

from services.core.events.subjects import run_events_subject

RunEvent = events_pb2.RunEvent

TERMINAL_STATES: frozenset[common_pb2.RuntimeState.ValueType] = frozenset(
    {common_pb2.SUCCEEDED, common_pb2.FAILED, common_pb2.CANCELED, common_pb2.SKIPPED}
)
"""Run states after which a run changes no more (unless it is retried)."""


class RunEventSource(Protocol):
    """The events of each run, replayable from any point of its stream."""

    def watch(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events with a stream sequence above ``after_sequence``, oldest first,
        then new ones as they happen; never ends by itself. Each event has ``sequence``
        set. Close the iterator (``aclose``) to stop early.

        Raises:
            InvalidArgument: ``run_id`` cannot name a run's event subject.
            Unavailable: the events cannot be read (broker down).
        """
        ...


def finishes_run(event: RunEvent) -> bool:
    """Whether ``event`` puts its run in a terminal state."""
    return event.kind == RunEvent.RUN_STATE_CHANGED and event.state in TERMINAL_STATES


async def run_events(
    source: RunEventSource, run_id: str, *, after_sequence: int = 0
) -> AsyncGenerator[RunEvent, None]:
    """A run's events after ``after_sequence``, ending after the one that finishes the run.

    A run that is retried after it finished starts again; watch it again from the last
    sequence seen to follow the retry.
    """
    events = source.watch(run_id, after_sequence=after_sequence)
    try:
        async for event in events:
            yield event
            if finishes_run(event):
                return
    finally:
        if isinstance(events, AsyncGenerator):
            await events.aclose()


async def _next_or_none(events: AsyncIterator[RunEvent]) -> RunEvent | None:
    return await anext(events, None)


async def follow(
    events: AsyncGenerator[RunEvent, None], *, stopping: asyncio.Event, heartbeat: float | None = None
) -> AsyncGenerator[RunEvent | None, None]:
    """Relay ``events`` until they end or ``stopping`` is set, closing them either way.

    With ``heartbeat`` set, yields ``None`` after each ``heartbeat`` seconds without an
    event, so the caller can keep an idle connection alive. A caller that needs to know
    why the feed ended checks ``stopping.is_set()``.
    """
    # The pending read outlives heartbeats: cancelling it would close ``events`` midway.
    stopped = asyncio.ensure_future(stopping.wait())
    pending: asyncio.Future[RunEvent | None] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next_or_none(events))
            waiting: set[asyncio.Future[Any]] = {pending, stopped}
            done, _ = await asyncio.wait(waiting, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED)
            if pending in done:
                event, pending = pending.result(), None
                if event is None:
                    return
                yield event
            elif stopped in done:
                return
            else:
                yield None
    finally:
        for future in (pending, stopped):
            if future is not None and not future.done():
                future.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await future
        await events.aclose()


class InMemoryRunEventSource:
    """Run events kept in this process: `publish` stores, `watch` replays and follows.

    Sequences count over all runs, like the stream sequence of ``SLUICE_EVENTS``. Use it
    from one event loop.
    """

    def __init__(self) -> None:
        self._events: defaultdict[str, list[RunEvent]] = defaultdict(list)
        self._last_sequence = 0
        self._published = asyncio.Event()

    def publish(self, event: RunEvent) -> int:
        """Store a copy of ``event`` under its ``run_id`` with the next sequence; return it."""
        self._last_sequence += 1
        stored = RunEvent()
        stored.CopyFrom(event)
        stored.sequence = self._last_sequence
        self._events[stored.run_id].append(stored)
        # A fresh Event per publish wakes every current watcher exactly once.
        self._published.set()
        self._published = asyncio.Event()
        return self._last_sequence

    async def watch(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        run_events_subject(run_id)  # the same run ids as on the bus are valid here
        last = after_sequence
        while True:
            published = self._published
            for stored in self._events.get(run_id, ()):
                if stored.sequence > last:
                    event = RunEvent()
                    event.CopyFrom(stored)
                    last = event.sequence
                    yield event
            await published.wait()

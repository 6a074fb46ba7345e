"""The `RunEventSource` contract, run against every implementation: the in-memory source,
and `NatsRunEventSource` over the in-process bus and over a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from google.protobuf import json_format
from sluice.v1 import common_pb2, events_pb2

from services.core.errors import InvalidArgument
from services.core.events import EventBus
from services.core.events.subjects import run_events_subject
from services.gateway.events import (
    InMemoryRunEventSource,
    RunEventSource,
    finishes_run,
    follow,
    run_events,
)
from services.gateway.nats_events import NatsRunEventSource
from tests.services.gateway.fakes import final_event, run_event, sample_run_events

RunEvent = events_pb2.RunEvent
TIMEOUT = 5.0


@dataclass
class Source:
    source: RunEventSource
    publish: Callable[[RunEvent], Awaitable[int]]
    bus: EventBus | None = None


def _on_bus(bus: EventBus) -> Source:
    async def publish(event: RunEvent) -> int:
        data = json_format.MessageToJson(event, preserving_proto_field_name=True).encode()
        return await bus.publish(run_events_subject(event.run_id), data, msg_id=event.event_id)

    return Source(NatsRunEventSource(bus), publish, bus)


@pytest.fixture(params=["in-memory", "memory-bus", "nats"])
def source(request: pytest.FixtureRequest) -> Source:
    if request.param == "in-memory":
        memory = InMemoryRunEventSource()

        async def publish(event: RunEvent) -> int:
            return memory.publish(event)

        return Source(memory, publish)
    fixture = "memory_bus" if request.param == "memory-bus" else "nats_bus"
    bus: EventBus = request.getfixturevalue(fixture)
    return _on_bus(bus)


async def _take(events: AsyncIterator[RunEvent], count: int) -> list[RunEvent]:
    taken: list[RunEvent] = []
    async with asyncio.timeout(TIMEOUT):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken


async def test_watch_replays_a_runs_events_in_order_with_sequences(source: Source) -> None:
    sequences = []
    for event in sample_run_events("r1"):
        sequences.append(await source.publish(event))
        await source.publish(run_event("r2", RunEvent.RUN_CREATED, common_pb2.PENDING))

    events = source.source.watch("r1")
    try:
        received = await _take(events, 4)
    finally:
        await _close(events)

    assert [event.sequence for event in received] == sequences
    assert [event.run_id for event in received] == ["r1"] * 4
    expected = list(sample_run_events("r1"))
    for got, want in zip(received, expected, strict=True):
        got.ClearField("sequence")
        assert got == want


async def test_watch_starts_after_a_sequence(source: Source) -> None:
    sequences = [await source.publish(event) for event in sample_run_events("r1")]

    events = source.source.watch("r1", after_sequence=sequences[1])
    try:
        received = await _take(events, 2)
    finally:
        await _close(events)

    assert [event.sequence for event in received] == sequences[2:]


async def test_watch_follows_new_events(source: Source) -> None:
    await source.publish(next(sample_run_events("r1")))
    events = source.source.watch("r1")
    try:
        first = await _take(events, 1)
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        sequence = await source.publish(final_event("r1"))
        live = await asyncio.wait_for(waiting, TIMEOUT)
    finally:
        await _close(events)

    assert first[0].kind == RunEvent.RUN_CREATED
    assert (live.sequence, live.state) == (sequence, common_pb2.SUCCEEDED)


async def test_run_events_end_after_the_event_that_finishes_the_run(source: Source) -> None:
    for event in sample_run_events("r1"):
        await source.publish(event)
    await source.publish(final_event("r1"))
    await source.publish(run_event("r1", RunEvent.RUN_STATE_CHANGED, common_pb2.RUNNING))

    async with asyncio.timeout(TIMEOUT):
        received = [event async for event in run_events(source.source, "r1")]

    assert len(received) == 5
    assert finishes_run(received[-1])


async def test_a_bad_run_id_is_invalid(source: Source) -> None:
    with pytest.raises(InvalidArgument):
        await anext(source.source.watch("a.b"))


async def test_unreadable_bus_messages_are_skipped(memory_bus: EventBus) -> None:
    source = _on_bus(memory_bus)
    await memory_bus.publish(run_events_subject("r1"), b"not json")
    await memory_bus.publish(run_events_subject("r1"), b"\xff\xfe")
    sequence = await source.publish(final_event("r1"))

    async with asyncio.timeout(TIMEOUT):
        received = [event async for event in run_events(source.source, "r1")]

    assert [event.sequence for event in received] == [sequence]


def test_only_a_run_state_change_to_a_terminal_state_finishes_a_run() -> None:
    for state in (common_pb2.SUCCEEDED, common_pb2.FAILED, common_pb2.CANCELED, common_pb2.SKIPPED):
        assert finishes_run(run_event("r", RunEvent.RUN_STATE_CHANGED, state))
        assert not finishes_run(run_event("r", RunEvent.TASK_STATE_CHANGED, state, task_id="t"))
    for state in (common_pb2.PENDING, common_pb2.RUNNING, common_pb2.CANCELING, common_pb2.PAUSED):
        assert not finishes_run(run_event("r", RunEvent.RUN_STATE_CHANGED, state))


class _Tracked:
    """An endless feed that tells whether it was closed."""

    def __init__(self) -> None:
        self.closed = False
        self.released = asyncio.Event()

    async def feed(self) -> AsyncGenerator[RunEvent, None]:
        try:
            yield run_event("r1", RunEvent.RUN_CREATED, common_pb2.PENDING)
            await self.released.wait()
            yield final_event("r1")
        finally:
            self.closed = True


async def test_follow_beats_while_idle_and_relays_events() -> None:
    tracked = _Tracked()
    feed = follow(tracked.feed(), stopping=asyncio.Event(), heartbeat=0.01)

    async with asyncio.timeout(TIMEOUT):
        assert (await anext(feed)) is not None
        assert (await anext(feed)) is None
        assert (await anext(feed)) is None
        tracked.released.set()
        items = [item async for item in feed if item is not None]

    assert [item.state for item in items] == [common_pb2.SUCCEEDED]
    assert tracked.closed


async def test_follow_ends_and_closes_the_feed_when_stopping() -> None:
    tracked = _Tracked()
    stopping = asyncio.Event()
    feed = follow(tracked.feed(), stopping=stopping)

    async with asyncio.timeout(TIMEOUT):
        assert (await anext(feed)) is not None
        later = asyncio.ensure_future(anext(feed, "ended"))
        stopping.set()
        assert await later == "ended"

    assert tracked.closed


async def test_closing_follow_early_closes_the_feed() -> None:
    tracked = _Tracked()
    feed = follow(tracked.feed(), stopping=asyncio.Event())
    async with asyncio.timeout(TIMEOUT):
        await anext(feed)
        await feed.aclose()

    assert tracked.closed


async def _close(events: AsyncIterator[RunEvent]) -> None:
    assert isinstance(events, AsyncGenerator)
    await events.aclose()

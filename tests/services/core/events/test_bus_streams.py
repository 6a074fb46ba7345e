"""Contract: publish, dedupe and replay on the events stream; the bus lifecycle."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.core.events import EventBus, StreamMessage, Subscription
from services.core.events.subjects import DISPATCH_SUBJECT, EVENTS_STREAM, EVENTS_SUBJECTS, run_events_subject
from tests.services.core.events.conftest import Connect
from tests.services.core.events.helpers import next_within, nothing_within, wait_until


async def take(feed: Subscription[StreamMessage], count: int) -> list[StreamMessage]:
    return [await next_within(feed) for _ in range(count)]


async def test_replay_reads_a_runs_events_in_publish_order(bus: EventBus) -> None:
    run_a, run_b = run_events_subject("run-a"), run_events_subject("run-b")
    sequences = []
    for i in range(5):
        sequences.append(await bus.publish(run_a, f"a{i}".encode()))
        await bus.publish(run_b, f"b{i}".encode())

    async with await bus.replay(run_a) as feed:
        got = await take(feed, 5)
        await bus.publish(run_b, b"b-live")
        await nothing_within(feed)  # run-b's events are not in run-a's feed

    assert sequences == sorted(set(sequences))
    assert [m.data for m in got] == [f"a{i}".encode() for i in range(5)]
    assert [m.sequence for m in got] == sequences
    assert {m.subject for m in got} == {run_a}
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=1) < m.time <= now + timedelta(seconds=1) for m in got)


async def test_replay_after_a_sequence_skips_what_came_before(bus: EventBus) -> None:
    subject = run_events_subject("resume")
    sequences = [await bus.publish(subject, f"e{i}".encode()) for i in range(5)]

    async with await bus.replay(subject, after_sequence=sequences[2]) as feed:
        got = await take(feed, 2)
        await nothing_within(feed)

    assert [m.data for m in got] == [b"e3", b"e4"]
    assert [m.sequence for m in got] == sequences[3:]


async def test_replay_follows_messages_published_later(bus: EventBus) -> None:
    subject = run_events_subject("live")
    await bus.publish(subject, b"before")
    async with await bus.replay(subject) as feed:
        assert (await next_within(feed)).data == b"before"
        await nothing_within(feed, 0.1)
        await bus.publish(subject, b"after-1")
        await bus.publish(subject, b"after-2")
        assert [m.data for m in await take(feed, 2)] == [b"after-1", b"after-2"]


async def test_replay_of_every_run_sees_another_process_publish(bus: EventBus, connect: Connect) -> None:
    scheduler = await connect()
    await scheduler.publish(run_events_subject("r1"), b"1")
    async with await bus.replay(EVENTS_SUBJECTS) as feed:
        await scheduler.publish(run_events_subject("r2"), b"2")
        got = await take(feed, 2)
    assert [(m.subject, m.data) for m in got] == [("sluice.events.r1", b"1"), ("sluice.events.r2", b"2")]


async def test_a_repeated_msg_id_is_stored_once(bus: EventBus) -> None:
    subject = run_events_subject("dedupe")
    first = await bus.publish(subject, b"started", msg_id="run/task/1/started")
    retried = await bus.publish(subject, b"started (retry)", msg_id="run/task/1/started")
    other = await bus.publish(subject, b"succeeded", msg_id="run/task/1/succeeded")
    plain_1 = await bus.publish(subject, b"no id")
    plain_2 = await bus.publish(subject, b"no id")

    assert retried == first
    assert first < other < plain_1 < plain_2
    assert (await bus.stream_state(EVENTS_STREAM)).messages == 4
    async with await bus.replay(subject) as feed:
        assert [m.data for m in await take(feed, 4)] == [b"started", b"succeeded", b"no id", b"no id"]
        await nothing_within(feed)


async def test_stream_state_counts_messages(bus: EventBus) -> None:
    empty = await bus.stream_state(EVENTS_STREAM)
    assert (empty.messages, empty.first_sequence, empty.last_sequence) == (0, 0, 0)
    sequences = [await bus.publish(run_events_subject("count"), b"x") for _ in range(3)]
    state = await bus.stream_state(EVENTS_STREAM)
    assert (state.messages, state.first_sequence, state.last_sequence) == (3, sequences[0], sequences[-1])


async def test_unknown_names_are_reported(bus: EventBus) -> None:
    with pytest.raises(Unavailable):
        await bus.publish("nowhere.at.all", b"x")
    with pytest.raises(NotFound):
        await bus.replay("nowhere.>")
    with pytest.raises(NotFound):
        await bus.stream_state("NO_SUCH_STREAM")
    with pytest.raises(InvalidArgument):
        await bus.replay(DISPATCH_SUBJECT)


async def test_ensure_streams_again_keeps_the_messages(bus: EventBus) -> None:
    subject = run_events_subject("keep")
    first = await bus.publish(subject, b"1")
    await bus.ensure_streams()
    second = await bus.publish(subject, b"2")
    assert second == first + 1
    assert (await bus.stream_state(EVENTS_STREAM)).messages == 2


async def test_closing_the_bus_ends_its_feeds(bus: EventBus) -> None:
    subject = run_events_subject("closing")
    await bus.publish(subject, b"1")
    feed = await bus.replay(subject)
    received: list[bytes] = []

    async def read() -> None:
        async for message in feed:
            received.append(message.data)

    reader = asyncio.create_task(read())
    await wait_until(lambda: received == [b"1"])
    assert not reader.done()  # still following, as it should
    await bus.aclose()
    await asyncio.wait_for(reader, 5)  # ends without an error
    assert received == [b"1"]
    assert feed.closed


async def test_a_closed_bus_refuses_work(bus: EventBus) -> None:
    await bus.aclose()
    await bus.aclose()  # idempotent
    with pytest.raises(Unavailable):
        await bus.publish(run_events_subject("late"), b"x")
    with pytest.raises(Unavailable):
        await bus.broadcast("sluice.tasks.cancel", b"x")
    with pytest.raises(FailedPrecondition):
        await bus.start()

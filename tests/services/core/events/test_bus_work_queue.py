"""Contract: the work queues (task dispatch and results) shared by replicas."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.core.events import BusConfig, EventBus, WorkItem, WorkQueue
from services.core.events.subjects import (
    DISPATCH_CONSUMER,
    DISPATCH_STREAM,
    DISPATCH_SUBJECT,
    RESULTS_CONSUMER,
    RESULTS_STREAM,
    RESULTS_SUBJECT,
)
from tests.fixtures.nats import TEST_ACK_WAIT
from tests.services.core.events.conftest import Connect
from tests.services.core.events.helpers import next_within, wait_until


async def dispatch(bus: EventBus, count: int) -> list[int]:
    return [
        await bus.publish(DISPATCH_SUBJECT, f"task-{i}".encode(), msg_id=f"dispatch-{i}")
        for i in range(count)
    ]


async def executors(bus: EventBus, max_in_flight: int = 4) -> WorkQueue:
    return await bus.work_queue(DISPATCH_STREAM, DISPATCH_CONSUMER, max_in_flight=max_in_flight)


async def one(queue: WorkQueue, max_wait: float = 3.0) -> WorkItem:
    items = await queue.fetch(1, max_wait=max_wait)
    assert len(items) == 1, f"expected one item within {max_wait}s, got {items}"
    return items[0]


async def backlog(bus: EventBus, stream: str = DISPATCH_STREAM) -> int:
    return (await bus.stream_state(stream)).messages


@pytest.mark.parametrize(
    ("stream", "subject", "consumer"),
    [
        (DISPATCH_STREAM, DISPATCH_SUBJECT, DISPATCH_CONSUMER),
        (RESULTS_STREAM, RESULTS_SUBJECT, RESULTS_CONSUMER),
    ],
)
async def test_an_acked_item_leaves_the_queue(
    bus: EventBus, stream: str, subject: str, consumer: str
) -> None:
    sequence = await bus.publish(subject, b"work")
    queue = await bus.work_queue(stream, consumer, max_in_flight=1)
    item = await one(queue)
    assert (item.subject, item.data, item.sequence, item.delivery_count) == (subject, b"work", sequence, 1)
    assert await backlog(bus, stream) == 1
    await item.ack()
    await wait_until(lambda: _is_empty(bus, stream), what="acked item removed")
    assert queue.in_flight == 0


async def _is_empty(bus: EventBus, stream: str) -> bool:
    return await backlog(bus, stream) == 0


async def test_each_item_goes_to_one_of_two_replicas(bus: EventBus, connect: Connect) -> None:
    sequences = await dispatch(bus, 6)
    replica_a = await executors(await connect(), max_in_flight=3)
    replica_b = await executors(await connect(), max_in_flight=3)
    held: dict[str, list[WorkItem]] = {"a": [], "b": []}

    async def pulled_everything() -> bool:
        held["a"] += await replica_a.fetch(max_wait=0.1)
        held["b"] += await replica_b.fetch(max_wait=0.1)
        return len(held["a"]) + len(held["b"]) == 6

    await wait_until(pulled_everything, what="six items pulled")
    seen_a = {i.sequence for i in held["a"]}
    seen_b = {i.sequence for i in held["b"]}
    # Nothing was acked, so neither replica can hold more than its 3 slots: both got 3.
    assert len(seen_a) == len(seen_b) == 3
    assert seen_a | seen_b == set(sequences)
    assert all(i.delivery_count == 1 for i in held["a"] + held["b"])
    for item in held["a"] + held["b"]:
        await item.ack()
    await wait_until(lambda: _is_empty(bus, DISPATCH_STREAM))


async def test_nak_hands_the_item_out_again_at_once(bus: EventBus) -> None:
    await dispatch(bus, 1)
    queue = await executors(bus, max_in_flight=1)
    item = await one(queue)
    await item.nak()
    # Well within ack_wait: it is the nak, not the timeout, that brings it back.
    again = await one(queue, max_wait=TEST_ACK_WAIT / 2)
    assert (again.sequence, again.delivery_count) == (item.sequence, 2)
    await again.ack()


async def test_nak_with_a_delay_holds_the_item_back(bus: EventBus) -> None:
    await dispatch(bus, 1)
    queue = await executors(bus)
    item = await one(queue)
    started = time.monotonic()
    await item.nak(delay=0.5)
    assert await queue.fetch(max_wait=0.2) == []
    again = await one(queue, max_wait=3)
    assert time.monotonic() - started >= 0.45
    assert (again.sequence, again.delivery_count) == (item.sequence, 2)


async def test_an_unacked_item_is_redelivered_after_ack_wait(bus: EventBus, connect: Connect) -> None:
    await dispatch(bus, 1)
    crashed = await executors(bus)
    item = await one(crashed)
    started = time.monotonic()
    survivor = await executors(await connect())
    again = await one(survivor, max_wait=TEST_ACK_WAIT * 4)
    assert time.monotonic() - started >= TEST_ACK_WAIT * 0.8
    assert (again.sequence, again.delivery_count) == (item.sequence, 2)
    await again.ack()
    await wait_until(lambda: _is_empty(bus, DISPATCH_STREAM))


async def test_in_progress_heartbeats_prevent_redelivery(bus: EventBus, connect: Connect) -> None:
    await dispatch(bus, 1)
    worker = await executors(bus)
    item = await one(worker)
    other = await executors(await connect())

    async def heartbeat() -> None:
        for _ in range(8):
            await asyncio.sleep(TEST_ACK_WAIT / 4)  # the heartbeat cadence, not a wait for a condition
            await item.in_progress()

    async with asyncio.TaskGroup() as group:
        group.create_task(heartbeat())
        stolen = await other.fetch(max_wait=TEST_ACK_WAIT * 2.2)
    assert stolen == []
    await item.ack()
    await wait_until(lambda: _is_empty(bus, DISPATCH_STREAM))


async def test_max_in_flight_bounds_unsettled_items(bus: EventBus, connect: Connect) -> None:
    sequences = await dispatch(bus, 4)
    queue = await executors(bus, max_in_flight=2)
    held: list[WorkItem] = []

    async def full() -> bool:
        held.extend(await queue.fetch(max_wait=0.1))
        return queue.in_flight == 2

    await wait_until(full)
    assert len(held) == 2
    assert await queue.fetch(max_wait=0.3) == []
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(queue), 0.3)

    await held[0].ack()
    held.append(await one(queue))
    assert queue.in_flight == 2
    # The queue pulled nothing beyond its slots: the last item is still there for others.
    last = await one(await executors(await connect()))
    assert [i.sequence for i in held] + [last.sequence] == sequences


async def test_iteration_hands_out_items_until_the_queue_closes(bus: EventBus) -> None:
    queue = await executors(bus)
    received: list[bytes] = []

    async def work() -> None:
        async for item in queue:
            received.append(item.data)
            await item.ack()

    worker = asyncio.create_task(work())
    await dispatch(bus, 3)
    await wait_until(lambda: len(received) == 3)
    await queue.aclose()
    await asyncio.wait_for(worker, 5)
    assert sorted(received) == [b"task-0", b"task-1", b"task-2"]
    assert queue.closed


async def test_workers_sharing_one_queue_stay_within_max_in_flight(bus: EventBus) -> None:
    await dispatch(bus, 6)
    queue = await executors(bus, max_in_flight=2)
    done: list[bytes] = []
    holding = 0
    most_held = 0

    async def worker() -> None:
        nonlocal holding, most_held
        async for item in queue:
            holding += 1
            most_held = max(most_held, holding)
            await asyncio.sleep(0.02)  # the work itself
            holding -= 1
            done.append(item.data)
            await item.ack()

    async with asyncio.TaskGroup() as group:
        for _ in range(3):
            group.create_task(worker())
        await wait_until(lambda: len(done) == 6)
        await queue.aclose()
    assert sorted(done) == sorted(f"task-{i}".encode() for i in range(6))
    assert most_held == 2


async def test_closing_a_queue_hands_back_items_not_taken(bus: EventBus, connect: Connect) -> None:
    await dispatch(bus, 3)
    queue = await executors(bus, max_in_flight=3)
    taken = await next_within(queue)  # iteration pulls for every free slot
    await wait_until(lambda: queue.in_flight == 3, what="two more pulled into the buffer")
    await queue.aclose()

    other = await executors(await connect())
    handed_back: list[WorkItem] = []

    async def both_back() -> bool:
        handed_back.extend(await other.fetch(max_wait=0.1))
        return len(handed_back) == 2

    # Sooner than ack_wait: they were handed back, not left to time out.
    await wait_until(both_back, within=TEST_ACK_WAIT * 0.8)
    assert taken.sequence not in {i.sequence for i in handed_back}
    await taken.ack()  # a taken item stays its holder's to settle


async def test_fetch_pulls_no_more_than_asked(bus: EventBus, connect: Connect) -> None:
    sequences = await dispatch(bus, 3)
    queue = await executors(bus, max_in_flight=3)
    first = await one(queue)
    assert queue.in_flight == 1
    rest = await executors(await connect())
    held: list[WorkItem] = []

    async def both_free() -> bool:
        held.extend(await rest.fetch(max_wait=0.1))
        return len(held) == 2

    # At once, not after ack_wait: the first queue never pulled them.
    await wait_until(both_free, within=TEST_ACK_WAIT * 0.8)
    assert [first.sequence, *sorted(i.sequence for i in held)] == sequences
    assert all(i.delivery_count == 1 for i in held)


async def test_an_item_is_settled_once(bus: EventBus) -> None:
    await dispatch(bus, 1)
    item = await one(await executors(bus))
    await item.ack()
    assert item.settled
    with pytest.raises(FailedPrecondition):
        await item.ack()
    with pytest.raises(FailedPrecondition):
        await item.nak()
    with pytest.raises(FailedPrecondition):
        await item.in_progress()


async def test_term_drops_a_poison_item(bus: EventBus) -> None:
    await dispatch(bus, 1)
    queue = await executors(bus)
    await (await one(queue)).term()
    await wait_until(lambda: _is_empty(bus, DISPATCH_STREAM))
    assert queue.in_flight == 0


@pytest.mark.parametrize("event_bus_config", [BusConfig(ack_wait=TEST_ACK_WAIT, max_deliver=2)])
async def test_an_item_is_not_delivered_more_than_max_deliver_times(bus: EventBus) -> None:
    await dispatch(bus, 1)
    queue = await executors(bus)
    await (await one(queue)).nak()
    await (await one(queue)).nak()
    assert await queue.fetch(max_wait=0.5) == []
    assert await backlog(bus) == 1  # kept for an operator to look at


async def test_bad_arguments_and_unknown_consumers(bus: EventBus) -> None:
    with pytest.raises(InvalidArgument):
        await executors(bus, max_in_flight=0)
    with pytest.raises(NotFound):
        await bus.work_queue(DISPATCH_STREAM, "nobody", max_in_flight=1)
    with pytest.raises(NotFound):
        await bus.work_queue("NO_SUCH_STREAM", DISPATCH_CONSUMER, max_in_flight=1)
    with pytest.raises(InvalidArgument):
        await (await executors(bus)).fetch(0)

"""Contract: core-NATS broadcasts (task cancellation) reach every current subscriber."""

from __future__ import annotations

import pytest

from services.core.events import EventBus
from services.core.events.subjects import CANCEL_SUBJECT
from tests.services.core.events.conftest import Connect
from tests.services.core.events.helpers import next_within, nothing_within


async def test_a_broadcast_reaches_every_subscriber(bus: EventBus, connect: Connect) -> None:
    executor_1, executor_2 = await connect(), await connect()
    exact_1 = await executor_1.subscribe_broadcast(CANCEL_SUBJECT)
    exact_2 = await executor_2.subscribe_broadcast(CANCEL_SUBJECT)
    wildcard = await executor_2.subscribe_broadcast("sluice.tasks.*")
    elsewhere = await executor_1.subscribe_broadcast("sluice.other")

    await bus.broadcast(CANCEL_SUBJECT, b"cancel run-1/task-2")

    for feed in (exact_1, exact_2, wildcard):
        assert await next_within(feed) == b"cancel run-1/task-2"
    await nothing_within(elsewhere, 0.1)


async def test_a_broadcast_is_not_kept_for_later_subscribers(bus: EventBus) -> None:
    early = await bus.subscribe_broadcast(CANCEL_SUBJECT)
    await bus.broadcast(CANCEL_SUBJECT, b"first")
    assert await next_within(early) == b"first"
    late = await bus.subscribe_broadcast(CANCEL_SUBJECT)
    await nothing_within(late, 0.1)
    await bus.broadcast(CANCEL_SUBJECT, b"second")
    assert await next_within(late) == b"second"
    assert await next_within(early) == b"second"


async def test_a_closed_subscription_stops(bus: EventBus) -> None:
    feed = await bus.subscribe_broadcast(CANCEL_SUBJECT)
    async with feed:
        await bus.broadcast(CANCEL_SUBJECT, b"one")
        assert await next_within(feed) == b"one"
    assert feed.closed
    await bus.broadcast(CANCEL_SUBJECT, b"two")
    with pytest.raises(StopAsyncIteration):
        await anext(feed)
    await feed.aclose()  # idempotent

"""`NatsBus` while nats-server restarts: publishes that carry a message id wait for it
(stored once), and a heartbeat the server did not get is never taken for one it did."""

from __future__ import annotations

import asyncio

import pytest

from services.core.errors import Unavailable
from services.core.events import BusConfig, NatsBus, NatsServer
from services.core.events.subjects import (
    DISPATCH_CONSUMER,
    DISPATCH_STREAM,
    DISPATCH_SUBJECT,
    run_events_subject,
)
from tests.services.core.events.helpers import next_within


def outage_bus(server: NatsServer, config: BusConfig) -> NatsBus:
    return NatsBus(
        server.url,
        config=config,
        name="sluice-outage-tests",
        request_timeout=1.0,
        connect_timeout=0.5,
        reconnect_wait=0.1,
        max_reconnect_attempts=200,
        publish_retry_seconds=15.0,
    )


async def test_a_publish_with_a_message_id_waits_for_the_server_and_is_stored_once(
    nats_server: NatsServer, event_bus_config: BusConfig
) -> None:
    subject = run_events_subject("through-a-restart")
    async with outage_bus(nats_server, event_bus_config) as bus:
        await bus.ensure_streams()
        await nats_server.stop()
        publishing = asyncio.create_task(bus.publish(subject, b"kept", msg_id="kept"))
        # Long enough for a try to time out while the server is away.
        await asyncio.sleep(1.5)
        assert not publishing.done()
        await nats_server.start()

        sequence = await asyncio.wait_for(publishing, 15)

        await bus.publish(subject, b"next", msg_id="next")
        async with await bus.replay(subject) as feed:
            first, second = await next_within(feed), await next_within(feed)
        assert (first.data, first.sequence) == (b"kept", sequence)
        assert second.data == b"next"


async def test_a_publish_without_a_message_id_is_tried_once(
    nats_server: NatsServer, event_bus_config: BusConfig
) -> None:
    async with outage_bus(nats_server, event_bus_config) as bus:
        await bus.ensure_streams()
        await nats_server.stop()
        with pytest.raises(Unavailable):
            await asyncio.wait_for(bus.publish(run_events_subject("once"), b"x"), 5)


async def test_a_heartbeat_fails_while_the_server_is_away_and_works_once_it_is_back(
    nats_server: NatsServer, event_bus_config: BusConfig
) -> None:
    async with outage_bus(nats_server, event_bus_config) as bus:
        await bus.ensure_streams()
        await bus.publish(DISPATCH_SUBJECT, b"task", msg_id="task")
        queue = await bus.work_queue(DISPATCH_STREAM, DISPATCH_CONSUMER, max_in_flight=1)
        [item] = await queue.fetch(max_wait=3)
        await item.in_progress()

        await nats_server.stop()
        # nats-py would buffer the +WPI and report nothing: the bus must not call it sent.
        with pytest.raises(Unavailable):
            await item.in_progress()

        await nats_server.start()
        for _ in range(100):
            try:
                await item.in_progress()
                break
            except Unavailable:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("no heartbeat confirmed after the server came back")
        await item.ack()


async def test_a_bus_whose_reconnects_run_out_is_lost_and_one_closed_on_purpose_is_not(
    nats_server: NatsServer, event_bus_config: BusConfig
) -> None:
    quick = NatsBus(nats_server.url, config=event_bus_config, reconnect_wait=0.1, max_reconnect_attempts=3)
    async with quick as bus:
        await bus.ensure_streams()
        assert not bus.lost.is_set()
        await nats_server.stop()
        # About three attempts 0.1 s apart, each failing at once on a closed port.
        await asyncio.wait_for(bus.lost.wait(), 15)
        with pytest.raises(Unavailable):
            await bus.publish(run_events_subject("after-the-end"), b"x")
    await nats_server.start()

    async with NatsBus(nats_server.url, config=event_bus_config) as closed_on_purpose:
        await closed_on_purpose.ensure_streams()
    await asyncio.sleep(0.2)
    assert not closed_on_purpose.lost.is_set()

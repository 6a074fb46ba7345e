"""What only the real NATS bus can show: durability across restarts, reconnects, config."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from services.core.errors import FailedPrecondition, Unavailable
from services.core.events import BusConfig, NatsBus, NatsServer, Storage
from services.core.events.subjects import (
    DISPATCH_CONSUMER,
    DISPATCH_STREAM,
    DISPATCH_SUBJECT,
    EVENTS_STREAM,
    run_events_subject,
)
from tests.fixtures.nats import make_nats_bus
from tests.services.core.events.helpers import next_within, wait_until


@pytest.fixture
async def raw_js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """A plain nats-py connection, to look at what the bus configured."""
    client = await nats.connect(nats_server.url)
    try:
        yield client.jetstream()
    finally:
        await client.close()


async def publish_until_accepted(bus: NatsBus, subject: str, data: bytes, msg_id: str) -> None:
    """Retry a publish (with its msg_id, so a retry cannot duplicate) while NATS comes back."""

    async def accepted() -> bool:
        try:
            await bus.publish(subject, data, msg_id=msg_id)
        except Unavailable:
            return False
        return True

    await wait_until(accepted, within=15, what=f"publish {msg_id}")


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_a_server_restart_loses_no_published_message(
    tmp_path: Path, event_bus_config: BusConfig, crash: bool
) -> None:
    subject = run_events_subject("durable")
    # sync_always: what was acknowledged is on disk even if the server is killed.
    async with (
        NatsServer(store_dir=tmp_path / "nats", sync_always=crash) as server,
        make_nats_bus(server.url, event_bus_config) as bus,
    ):
        await bus.ensure_streams()
        sequences = [await bus.publish(subject, f"e{i}".encode(), msg_id=f"e{i}") for i in range(20)]
        await bus.publish(DISPATCH_SUBJECT, b"task", msg_id="task")

        await server.restart(kill=crash)

        # The same bus reconnects on its own.
        await publish_until_accepted(bus, subject, b"after", "after")
        async with await bus.replay(subject) as feed:
            got = [await next_within(feed) for _ in range(21)]
        assert [m.sequence for m in got[:20]] == sequences
        assert [m.data for m in got] == [f"e{i}".encode() for i in range(20)] + [b"after"]
        queue = await bus.work_queue(DISPATCH_STREAM, DISPATCH_CONSUMER, max_in_flight=1)
        [task] = await queue.fetch(max_wait=3)
        assert task.data == b"task"
        await task.ack()


async def test_a_replay_feed_resumes_after_a_server_restart(
    nats_server: NatsServer, nats_bus: NatsBus
) -> None:
    subject = run_events_subject("watched")
    await nats_bus.publish(subject, b"before", msg_id="before")
    async with await nats_bus.replay(subject) as feed:
        assert (await next_within(feed)).data == b"before"
        await nats_server.restart()
        await publish_until_accepted(nats_bus, subject, b"after", "after")
        # The server forgot the ephemeral consumer; missed heartbeats make nats-py recreate
        # it from the last sequence seen: nothing lost, nothing twice.
        resumed = await next_within(feed, within=10)
        assert resumed.data == b"after"


async def test_connecting_to_no_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe socket is closed.
    bus = NatsBus(
        f"nats://127.0.0.1:{port}", connect_timeout=0.5, reconnect_wait=0.05, max_reconnect_attempts=1
    )
    with pytest.raises(Unavailable):
        await bus.start()
    await bus.aclose()


async def test_ensure_streams_updates_settings_in_place(
    nats_server: NatsServer, nats_bus: NatsBus, raw_js: JetStreamContext
) -> None:
    await nats_bus.publish(run_events_subject("kept"), b"x")
    changed = BusConfig(ack_wait=7, max_deliver=3, events_max_age=3600, duplicate_window=60)
    async with make_nats_bus(nats_server.url, changed) as other:
        await other.ensure_streams()

    consumer = await raw_js.consumer_info(DISPATCH_STREAM, DISPATCH_CONSUMER)
    assert (consumer.config.ack_wait, consumer.config.max_deliver) == (7, 3)
    events = await raw_js.stream_info(EVENTS_STREAM)
    assert (events.config.max_age, events.config.duplicate_window) == (3600, 60)
    assert events.config.storage == "file"
    assert events.state.messages == 1


async def test_ensure_streams_refuses_a_storage_change(nats_server: NatsServer, nats_bus: NatsBus) -> None:
    in_memory = BusConfig(storage=Storage.MEMORY)
    async with make_nats_bus(nats_server.url, in_memory) as other:
        with pytest.raises(FailedPrecondition, match="SLUICE_EVENTS"):
            await other.ensure_streams()


async def test_work_queue_configured_by_the_bus(nats_bus: NatsBus, raw_js: JetStreamContext) -> None:
    dispatch = await raw_js.stream_info(DISPATCH_STREAM)
    assert dispatch.config.retention == "workqueue"
    assert dispatch.config.duplicate_window == 120
    consumer = await raw_js.consumer_info(DISPATCH_STREAM, DISPATCH_CONSUMER)
    assert consumer.config.ack_policy == "explicit"
    assert consumer.config.durable_name == DISPATCH_CONSUMER


async def test_feeds_and_queues_fail_loudly_once_the_connection_is_gone(
    nats_server: NatsServer, event_bus_config: BusConfig
) -> None:
    bus = NatsBus(
        nats_server.url,
        config=event_bus_config,
        connect_timeout=0.5,
        reconnect_wait=0.05,
        max_reconnect_attempts=1,
    )
    async with bus:
        await bus.ensure_streams()
        feed = await bus.replay(run_events_subject("lost"))
        queue = await bus.work_queue(DISPATCH_STREAM, DISPATCH_CONSUMER, max_in_flight=1)
        await nats_server.stop()
        # Not a quiet end of iteration, which a reader would take for "no more events".
        with pytest.raises(Unavailable):
            await asyncio.wait_for(anext(feed), 10)
        with pytest.raises(Unavailable):
            await asyncio.wait_for(anext(queue), 10)
        with pytest.raises(Unavailable):
            await bus.publish(run_events_subject("lost"), b"x")

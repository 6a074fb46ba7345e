"""The event-bus contract suite runs every test against each implementation.

``connect`` opens another bus on the same backend (another "process" on the same
nats-server or `MemoryBroker`); ``bus`` is the first one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.core.events import BusConfig, EventBus, MemoryBroker, MemoryBus, NatsServer
from tests.fixtures.nats import make_nats_bus

Connect = Callable[[], Awaitable[EventBus]]


@pytest.fixture(params=["memory", "nats"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None for the in-process bus, else the URL of a fresh nats-server."""
    if request.param == "memory":
        return None
    server: NatsServer = request.getfixturevalue("nats_server")
    return server.url


@pytest.fixture
async def connect(backend_url: str | None, event_bus_config: BusConfig) -> AsyncIterator[Connect]:
    broker = MemoryBroker()
    opened: list[EventBus] = []

    async def connect() -> EventBus:
        bus: EventBus
        if backend_url is None:
            bus = MemoryBus(config=event_bus_config, broker=broker)
        else:
            bus = make_nats_bus(backend_url, event_bus_config)
        opened.append(bus)
        await bus.start()
        await bus.ensure_streams()
        return bus

    yield connect
    for bus in opened:
        await bus.aclose()


@pytest.fixture
async def bus(connect: Connect) -> EventBus:
    return await connect()

"""A gateway on free loopback ports in front of fake backends on real gRPC servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from services.gateway import Gateway, GatewayBackend, GatewayConfig, InMemoryRunEventSource
from tests.services.gateway.fakes import FakeBackends

StartGateway = Callable[[GatewayConfig], Awaitable[Gateway]]


@pytest.fixture
async def fakes() -> AsyncIterator[FakeBackends]:
    backends = await FakeBackends.start()
    yield backends
    await backends.stop()


@pytest.fixture
def events() -> InMemoryRunEventSource:
    return InMemoryRunEventSource()


@pytest.fixture
async def start_gateway(fakes: FakeBackends, events: InMemoryRunEventSource) -> AsyncIterator[StartGateway]:
    """Start a gateway with a given config; every one started is closed after the test."""
    started: list[Gateway] = []

    async def start(config: GatewayConfig) -> Gateway:
        backend = GatewayBackend.connect(
            scheduler_address=fakes.scheduler_address,
            artifacts_address=fakes.artifacts_address,
            events=events,
        )
        gateway = Gateway(backend=backend, config=config)
        started.append(gateway)
        await gateway.start()
        return gateway

    yield start
    for gateway in started:
        await gateway.aclose()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> Gateway:
    return await start_gateway(GatewayConfig(shutdown_grace_seconds=1.0, sse_heartbeat_seconds=0.2))


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10.0, trust_env=False) as client:
        yield client

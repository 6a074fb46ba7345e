"""The gateway's lifecycle: start, serve both APIs, drain, close."""

from __future__ import annotations

import asyncio
import socket
import time

import grpc
import httpx
import pytest
from sluice.v1 import experiments_pb2, experiments_pb2_grpc, runs_pb2

from services.core.errors import FailedPrecondition
from services.gateway import Gateway, GatewayBackend, GatewayConfig, InMemoryRunEventSource
from tests.services.gateway.fakes import FakeBackends

API = "/apis/v2beta1"


def _backend(fakes: FakeBackends, events: InMemoryRunEventSource) -> GatewayBackend:
    return GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=events
    )


async def test_serves_both_apis_then_closes(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    backend = _backend(fakes, events)
    gateway = Gateway(backend=backend, config=GatewayConfig(shutdown_grace_seconds=1))
    assert not gateway.ready

    async with gateway:
        assert gateway.ready
        assert gateway.http_port > 0
        assert gateway.grpc_port > 0
        assert gateway.http_url == f"http://127.0.0.1:{gateway.http_port}"
        assert gateway.grpc_address == f"127.0.0.1:{gateway.grpc_port}"
        async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
            assert (await http.get(f"{API}/healthz")).status_code == 200
        async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
            listed = await experiments_pb2_grpc.ExperimentServiceStub(channel).ListExperiments(
                experiments_pb2.ListExperimentsRequest()
            )
            assert listed.total_size == 0

    assert not gateway.ready
    assert backend.scheduler_channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
    assert backend.artifacts_channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
            await http.get(f"{API}/healthz")
    await gateway.aclose()  # idempotent


async def test_starts_once(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    gateway = Gateway(backend=_backend(fakes, events))
    await gateway.start()
    try:
        with pytest.raises(FailedPrecondition):
            await gateway.start()
    finally:
        await gateway.aclose()
    with pytest.raises(FailedPrecondition):
        await gateway.start()


async def test_a_taken_port_fails_start_and_cleans_up(
    fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        backend = _backend(fakes, events)
        gateway = Gateway(backend=backend, config=GatewayConfig(http_port=taken.getsockname()[1]))

        with pytest.raises(OSError, match="in use"):
            await gateway.start()

    assert not gateway.ready
    assert backend.scheduler_channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
    with pytest.raises(grpc.aio.AioRpcError):
        async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
            await experiments_pb2_grpc.ExperimentServiceStub(channel).ListExperiments(
                experiments_pb2.ListExperimentsRequest(), timeout=1
            )


async def test_close_lets_a_request_in_flight_finish(
    fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    fakes.runs.get_delay = 0.3
    gateway = Gateway(backend=_backend(fakes, events), config=GatewayConfig(shutdown_grace_seconds=5))
    await gateway.start()
    async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
        request = asyncio.ensure_future(http.get(f"{API}/runs/r1"))
        await asyncio.wait_for(fakes.runs.get_started.wait(), timeout=5)

        await gateway.aclose()
        response = await request

    assert response.status_code == 200
    assert response.json()["run_id"] == "r1"


async def test_close_ends_event_streams_promptly(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    gateway = Gateway(backend=_backend(fakes, events), config=GatewayConfig(shutdown_grace_seconds=10))
    await gateway.start()
    async with (
        httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http,
        http.stream("GET", f"{API}/runs/r1/events") as response,
    ):
        assert response.status_code == 200
        started = time.monotonic()

        await gateway.aclose()

        assert [line async for line in response.aiter_lines()] == []
        assert time.monotonic() - started < 5

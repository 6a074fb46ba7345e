"""The artifact service's lifecycle, on real loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from services.artifacts import (
    ArtifactClient,
    ArtifactRecords,
    ArtifactService,
    ArtifactServicer,
    LocalBackend,
    add_artifact_servicer,
)
from services.core.errors import Unavailable


async def _round_trip(address: str, backend: LocalBackend) -> bytes:
    async with grpc.aio.insecure_channel(address) as channel:
        client = ArtifactClient(channel)
        uri = backend.uri_for("ping")
        await client.upload_bytes(b"pong", uri)
        async with contextlib.aclosing(client.download(uri)) as chunks:
            return b"".join([chunk async for chunk in chunks])


async def test_start_binds_a_free_port(backend: LocalBackend, records: ArtifactRecords) -> None:
    service = ArtifactService(backend=backend, records=records, host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError):
        _ = service.port

    await service.start()
    try:
        assert service.port > 0
        assert service.address == f"127.0.0.1:{service.port}"
        assert await _round_trip(service.address, backend) == b"pong"
        with pytest.raises(RuntimeError):
            await service.start()
    finally:
        await service.aclose()


async def test_aclose_is_idempotent_and_safe_before_start(
    backend: LocalBackend, records: ArtifactRecords
) -> None:
    never_started = ArtifactService(backend=backend, records=records, host="127.0.0.1", port=0)
    await never_started.aclose()

    async with ArtifactService(backend=backend, records=records, host="127.0.0.1", port=0) as service:
        address = service.address
    await asyncio.gather(service.aclose(), service.aclose())

    with pytest.raises(Unavailable):
        await _round_trip(address, backend)


async def test_an_unbindable_address_is_unavailable(backend: LocalBackend, records: ArtifactRecords) -> None:
    service = ArtifactService(backend=backend, records=records, host="256.0.0.1", port=0)

    with pytest.raises(Unavailable, match="cannot bind"):
        await service.start()
    await service.aclose()


async def test_ipv6_addresses_are_bracketed(backend: LocalBackend, records: ArtifactRecords) -> None:
    service = ArtifactService(backend=backend, records=records, host="::1", port=0)
    try:
        await service.start()
    except Unavailable:
        pytest.skip("no IPv6 loopback here")
    try:
        assert service.address == f"[::1]:{service.port}"
        assert await _round_trip(service.address, backend) == b"pong"
    finally:
        await service.aclose()


async def test_the_servicer_can_share_a_server(backend: LocalBackend, records: ArtifactRecords) -> None:
    server = grpc.aio.server()
    add_artifact_servicer(server, ArtifactServicer(backend=backend, records=records))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert await _round_trip(f"127.0.0.1:{port}", backend) == b"pong"
    finally:
        await server.stop(None)


async def test_in_flight_calls_finish_within_the_grace_period(
    backend: LocalBackend, records: ArtifactRecords
) -> None:
    service = ArtifactService(backend=backend, records=records, host="127.0.0.1", port=0, grace_seconds=5)
    await service.start()
    uri = backend.uri_for("slow")
    await backend.put("slow", _bytes(b"s" * (4 * 1024 * 1024)))
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = ArtifactClient(channel)
        async with contextlib.aclosing(client.download(uri)) as chunks:
            first = await anext(chunks)
            closing = asyncio.create_task(service.aclose())
            rest = [chunk async for chunk in chunks]
        await closing

    assert len(first) + sum(len(chunk) for chunk in rest) == 4 * 1024 * 1024


async def _bytes(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part

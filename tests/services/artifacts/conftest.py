from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.artifacts import ArtifactClient, ArtifactRecords, ArtifactService, LocalBackend
from services.core.store.sqlite import SqliteStore
from tests.services.artifacts.memory_records import InMemoryArtifactRecords


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "artifacts")


@pytest.fixture(params=["memory", "sqlite"])
async def records(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ArtifactRecords]:
    """The records behind the service: the in-memory double, and the real SQLite store (its
    file kept out of `tmp_path`, where tests look for stray artifact files)."""
    if request.param == "memory":
        yield InMemoryArtifactRecords()
        return
    store = SqliteStore(tmp_path_factory.mktemp("store") / "sluice.db")
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def service(backend: LocalBackend, records: ArtifactRecords) -> AsyncIterator[ArtifactService]:
    async with ArtifactService(
        backend=backend, records=records, host="127.0.0.1", port=0, max_upload_bytes=8 * 1024 * 1024
    ) as running:
        yield running


@pytest.fixture
async def channel(service: ArtifactService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(service.address) as open_channel:
        yield open_channel


@pytest.fixture
def client(channel: grpc.aio.Channel) -> ArtifactClient:
    return ArtifactClient(channel)

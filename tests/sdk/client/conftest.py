from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sluice.client import Client

from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(params=["grpc", "http"])
def client(request: pytest.FixtureRequest, sluice_server: RunningSluice) -> Iterator[Client]:
    """A client of the live server over each transport: the same tests pass over both."""
    host = sluice_server.grpc_address if request.param == "grpc" else sluice_server.http_url
    with Client(host, timeout=30) as connected:
        assert connected.transport == request.param
        yield connected


@pytest.fixture
def grpc_client(sluice_server: RunningSluice) -> Iterator[Client]:
    with Client(sluice_server.grpc_address, timeout=30) as connected:
        yield connected


def unique(prefix: str) -> str:
    """A name no other test (or earlier session of the shared server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"

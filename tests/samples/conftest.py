from __future__ import annotations

from collections.abc import Iterator

import pytest
from sluice.client import Client

from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture
def client(sluice_server: RunningSluice) -> Iterator[Client]:
    with Client(sluice_server.grpc_address, timeout=30) as connected:
        yield connected

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.core.store.base import Store
from services.core.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every `Store` implementation, started, empty, and closed after the test.

    The whole contract suite runs once per param. To add an implementation, add its name
    to `params` and a branch below that builds it, e.g. for MongoDB:

        params=["sqlite", "mongo"]
        ...
        elif request.param == "mongo":
            url = request.getfixturevalue("mongo_url")  # a session fixture starting the server
            implementation = MongoStore(url, database=f"test_{uuid.uuid4().hex}")

    `request.getfixturevalue` keeps the server fixture lazy: it starts only when a mongo
    test runs. Tests isolate by unique ids, so a shared server needs no cleanup between
    tests; a fresh database per test keeps `total_size` assertions exact.
    """
    implementation: Store
    if request.param == "sqlite":
        implementation = SqliteStore(tmp_path / "store.db")
    else:  # pragma: no cover - every param has a branch above
        raise AssertionError(f"no store named {request.param!r}")
    await implementation.start()
    try:
        yield implementation
    finally:
        await implementation.aclose()

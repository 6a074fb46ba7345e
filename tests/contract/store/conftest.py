from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from services.core.store.base import Store
from services.core.store.mongo import MongoStore
from services.core.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "mongo", "mongo-real"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every `Store` implementation, started, empty, and closed after the test.

    The whole contract suite runs once per param. To add an implementation, add its name
    to `params` and a branch below that builds it.

    `request.getfixturevalue` keeps the server fixtures lazy: nx-27017 starts only when a
    mongo test runs, and "mongo-real" skips unless SLUICE_TEST_MONGODB_URL names a MongoDB.
    Tests isolate by unique ids, so a shared server needs no cleanup between tests; a fresh
    database per test keeps `total_size` assertions exact, and is dropped afterwards.
    """
    implementation: Store
    mongo_url = ""
    database = f"test_{uuid.uuid4().hex}"
    if request.param == "sqlite":
        implementation = SqliteStore(tmp_path / "store.db")
    elif request.param in ("mongo", "mongo-real"):
        mongo_url = request.getfixturevalue("mongo_url" if request.param == "mongo" else "real_mongo_url")
        implementation = MongoStore(mongo_url, database=database, server_selection_timeout=5.0)
    else:  # pragma: no cover - every param has a branch above
        raise AssertionError(f"no store named {request.param!r}")
    await implementation.start()
    try:
        yield implementation
    finally:
        await implementation.aclose()
        if mongo_url:
            async with AsyncMongoClient[dict[str, object]](mongo_url) as client:
                await client.drop_database(database)

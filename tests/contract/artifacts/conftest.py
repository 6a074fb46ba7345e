"""The backends the artifact contract suite runs against.

Each implementation is one branch of the `store` fixture: the local directory, and S3 on
a real SeaweedFS server (`tests.fixtures.s3`), in a fresh bucket per test and under a key
prefix, so that `list_everything` (the whole bucket) shows anything written outside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.artifacts.backends import ArtifactBackend, LocalBackend
from services.artifacts.backends.s3 import MIN_PART_SIZE, S3Backend
from tests.fixtures.s3 import SeaweedServer

BACKENDS = ["local", "s3"]


@dataclass(frozen=True)
class StoreUnderTest:
    backend: ArtifactBackend
    list_everything: Callable[[], Awaitable[list[str]]]
    """Every object the backend could have written, wherever: for the local backend, every
    file under the test's temporary directory (not only the root), so an escape shows up;
    for S3, every object in the test's bucket, not only under the backend's prefix."""


def _files_under(directory: Path) -> Callable[[], Awaitable[list[str]]]:
    def walk() -> list[str]:
        return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not p.is_dir())

    async def list_files() -> list[str]:
        return await asyncio.to_thread(walk)

    return list_files


def _objects_in(server: SeaweedServer, bucket: str) -> Callable[[], Awaitable[list[str]]]:
    def walk() -> list[str]:
        return sorted(o.object_name or "" for o in server.client().list_objects(bucket, recursive=True))

    async def list_objects() -> list[str]:
        return await asyncio.to_thread(walk)

    return list_objects


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    backend: ArtifactBackend
    if request.param == "local":
        sandbox = tmp_path / "sandbox"
        backend = LocalBackend(sandbox / "root")
        under_test = StoreUnderTest(backend=backend, list_everything=_files_under(sandbox))
    elif request.param == "s3":
        server: SeaweedServer = request.getfixturevalue("seaweedfs")
        bucket: str = request.getfixturevalue("s3_bucket")
        backend = S3Backend(
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
            bucket=bucket,
            region="us-east-1",
            prefix="contract/",
            part_size=MIN_PART_SIZE,
        )
        under_test = StoreUnderTest(backend=backend, list_everything=_objects_in(server, bucket))
    else:
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    try:
        yield under_test
    finally:
        await backend.aclose()

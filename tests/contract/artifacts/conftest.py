"""The backends the artifact contract suite runs against.

Each implementation is one branch of the `store` fixture: a real S3-compatible server
started by a fixture would be one more (`"s3"`), listing its bucket in `list_everything`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.artifacts.backends import ArtifactBackend, LocalBackend

BACKENDS = ["local"]


@dataclass(frozen=True)
class StoreUnderTest:
    backend: ArtifactBackend
    list_everything: Callable[[], Awaitable[list[str]]]
    """Every object the backend could have written, wherever: for the local backend, every
    file under the test's temporary directory (not only the root), so an escape shows up."""


def _files_under(directory: Path) -> Callable[[], Awaitable[list[str]]]:
    def walk() -> list[str]:
        return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not p.is_dir())

    async def list_files() -> list[str]:
        return await asyncio.to_thread(walk)

    return list_files


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    if request.param == "local":
        sandbox = tmp_path / "sandbox"
        backend = LocalBackend(sandbox / "root")
        under_test = StoreUnderTest(backend=backend, list_everything=_files_under(sandbox))
    else:
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    try:
        yield under_test
    finally:
        await backend.aclose()

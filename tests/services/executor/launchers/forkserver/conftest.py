from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.executor.launchers.local import LocalLauncher
from tests.services.executor.launchers.forkserver import helpers


@pytest.fixture
async def warm(tmp_path: Path) -> AsyncIterator[LocalLauncher]:
    """A launcher forking qualifying tasks, its fork server's socket under `tmp_path/run`."""
    launcher = LocalLauncher(grace_seconds=0.5, runtime_dir=tmp_path / "run")
    yield launcher
    await launcher.aclose()


@pytest.fixture
def cold() -> LocalLauncher:
    """A launcher running every task as a plain subprocess."""
    return LocalLauncher(grace_seconds=0.5, warm_python_tasks=False)


@pytest.fixture(autouse=True)
def _ignore_foreign_servers() -> Iterator[None]:
    """Fork servers that exist before the test (a session-wide Sluice's) are not its own."""
    helpers.FOREIGN_SERVERS.clear()
    helpers.FOREIGN_SERVERS.update(helpers.all_server_pids())
    yield
    helpers.FOREIGN_SERVERS.clear()

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.executor.launchers.local import LocalLauncher


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

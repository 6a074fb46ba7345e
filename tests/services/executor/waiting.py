"""Polling with a deadline, for conditions no event announces (a file appears, a pid dies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(predicate: Callable[[], object], within: float = 5.0) -> None:
    """Return once `predicate()` is truthy; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)

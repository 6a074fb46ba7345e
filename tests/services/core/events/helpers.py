"""Bounded waiting for the event-bus tests: poll a condition instead of sleeping."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = 5.0,
    interval: float = 0.01,
    what: str = "",
) -> None:
    """Return once ``condition()`` is true; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s: {what or condition}")
        await asyncio.sleep(interval)


async def next_within(feed: AsyncIterator[T], within: float = 5.0) -> T:
    """The next item of ``feed``; fail the test if none comes within ``within`` seconds."""
    try:
        return await asyncio.wait_for(anext(feed), within)
    except TimeoutError:
        raise AssertionError(f"nothing arrived within {within}s") from None


async def nothing_within(feed: AsyncIterator[T], within: float = 0.3) -> None:
    """Fail the test if ``feed`` yields an item within ``within`` seconds."""
    try:
        item = await asyncio.wait_for(anext(feed), within)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected item: {item!r}")

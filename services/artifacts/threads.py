"""Blocking file I/O in worker threads, safe to cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import BinaryIO, TypeVar

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: object, abandon: Callable[[T], None] | None = None) -> T:
    """Run a blocking call in a worker thread. When the caller is cancelled meanwhile, the call
    still runs to its end before the cancellation propagates, and `abandon` disposes of its
    result (say, closes the file it opened): no file operation outlives its caller, so the
    caller's clean-up never races it, and nothing leaks."""
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if not future.cancelled() and future.exception() is None and abandon is not None:
            abandon(future.result())
        raise


def close_file(file: BinaryIO) -> None:
    """An `abandon` for calls that open a file."""
    file.close()

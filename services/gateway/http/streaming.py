"""Streamed responses whose source may fail before its first byte (a missing object)."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def started(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk now, so that a source failing at once is an error status (see
    `errors`), not a response cut after its headers; then every chunk, the first included."""
    first = await anext(chunks, None)
    return _relay(first, chunks)


async def _relay(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first
    async for data in rest:
        yield data

"""Bytes from the event loop to a blocking reader in a worker thread, with backpressure.

A blocking SDK (the `minio` client) uploads from a file-like object in a worker thread; the
bytes come from an async iterator on the event loop. `ChunkPipe` joins the two: the loop
`send`s chunks into a bounded queue and the thread `read`s them, so at most `depth` chunks
wait in memory and a slow upload slows the sender down. Either side can stop the other:
`fail` makes the next `read` raise `PipeAborted` (so the SDK aborts its multipart upload),
and `reader_done` (called when the upload ends, however) makes `send` raise instead of
waiting for a reader that is gone.
"""

from __future__ import annotations

import asyncio


class PipeAborted(Exception):
    """The sending side gave up; the reader must abandon what it was doing."""


class ReaderGone(Exception):
    """The reading side stopped before it read everything."""


class ChunkPipe:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, depth: int = 4) -> None:
        self._loop = loop
        # None marks the end of the data, or (with `_aborted` set) a failure.
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(depth)
        self._aborted = False
        self._reader_done = False
        self._buffer = bytearray()
        self._eof = False

    # --- the event loop's side ---------------------------------------------------------
    async def send(self, data: bytes) -> None:
        """Queue `data` for the reader, waiting while the queue is full. Raises ReaderGone."""
        if self._reader_done:
            raise ReaderGone
        await self._queue.put(data)
        if self._reader_done:
            raise ReaderGone

    async def close(self) -> None:
        """No more data: the reader sees the end once it has read what is queued."""
        if self._reader_done:
            raise ReaderGone
        await self._queue.put(None)

    def fail(self) -> None:
        """Make the reader's next `read` raise PipeAborted. Never blocks."""
        self._aborted = True
        if not self._queue.full():
            self._queue.put_nowait(None)
        # A full queue needs no marker: the reader finds the flag after its next get.

    def reader_done(self) -> None:
        """The reader stopped: unblock a waiting `send` and make the next one raise."""
        self._reader_done = True
        while not self._queue.empty():
            self._queue.get_nowait()

    # --- the worker thread's side --------------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all of them for a negative size); b"" at the end. Blocks the
        calling thread, which must not be the event loop's."""
        while not self._eof and (size < 0 or len(self._buffer) < size):
            if self._aborted:
                raise PipeAborted
            item = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if self._aborted:
                raise PipeAborted
            if item is None:
                self._eof = True
            else:
                self._buffer += item
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

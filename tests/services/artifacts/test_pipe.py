"""`ChunkPipe`: chunks from the event loop to a blocking reader thread."""

from __future__ import annotations

import asyncio

import pytest

from services.artifacts.backends.pipe import ChunkPipe, PipeAborted, ReaderGone


def _read_all(pipe: ChunkPipe, size: int) -> list[bytes]:
    reads = []
    while data := pipe.read(size):
        reads.append(data)
    return reads


async def test_the_reader_gets_every_byte_in_the_sizes_it_asks_for() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop(), depth=2)
    reader = asyncio.create_task(asyncio.to_thread(_read_all, pipe, 4))

    for chunk in (b"ab", b"", b"cdefg", b"hij"):
        await pipe.send(chunk)
    await pipe.close()

    assert await reader == [b"abcd", b"efgh", b"ij"]


async def test_read_everything_at_once() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop())
    reader = asyncio.create_task(asyncio.to_thread(pipe.read))
    await pipe.send(b"one ")
    await pipe.send(b"two")
    await pipe.close()
    assert await reader == b"one two"


async def test_the_sender_waits_for_a_slow_reader() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop(), depth=2)
    await pipe.send(b"1")
    await pipe.send(b"2")

    blocked = asyncio.create_task(pipe.send(b"3"))
    await asyncio.sleep(0.05)
    assert not blocked.done()

    assert await asyncio.to_thread(pipe.read, 1) == b"1"
    async with asyncio.timeout(5):
        await blocked


async def test_fail_makes_a_waiting_reader_raise() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop())
    await pipe.send(b"partial")
    reader = asyncio.create_task(asyncio.to_thread(pipe.read, 100))
    await asyncio.sleep(0.05)

    pipe.fail()

    with pytest.raises(PipeAborted):
        await reader


async def test_fail_with_a_full_queue_still_reaches_the_reader() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop(), depth=1)
    await pipe.send(b"queued")
    pipe.fail()
    with pytest.raises(PipeAborted):
        await asyncio.to_thread(pipe.read, 100)


async def test_a_sender_waiting_on_a_reader_that_is_gone_is_released() -> None:
    pipe = ChunkPipe(asyncio.get_running_loop(), depth=1)
    await pipe.send(b"1")
    blocked = asyncio.create_task(pipe.send(b"2"))
    await asyncio.sleep(0.05)

    pipe.reader_done()

    with pytest.raises(ReaderGone):
        await blocked
    with pytest.raises(ReaderGone):
        await pipe.send(b"3")
    with pytest.raises(ReaderGone):
        await pipe.close()

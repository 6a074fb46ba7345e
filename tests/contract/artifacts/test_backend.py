"""The contract every artifact backend keeps, run against each implementation."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.artifacts.backends import ArtifactBackend
from services.core.errors import InvalidArgument, NotFound, TooLarge
from tests.contract.artifacts.conftest import StoreUnderTest

MiB = 1024 * 1024

# Unsafe keys; each must be refused before anything is read or written.
BAD_KEYS = [
    "",
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a/..",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "a\\b",
    "..\\x",
    "a\0b",
    "a\nb",
    "a\x7fb",
    "x" * 1025,
]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _never_read() -> AsyncIterator[bytes]:
    raise AssertionError("the backend read the chunks of a rejected put")
    yield b""  # pragma: no cover - makes this an async generator


async def _read(backend: ArtifactBackend, key: str, *, offset: int = 0, chunk_size: int = MiB) -> bytes:
    async with contextlib.aclosing(backend.get(key, offset=offset, chunk_size=chunk_size)) as chunks:
        return b"".join([chunk async for chunk in chunks])


def _random_bytes(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize(
    ("parts", "size"),
    [
        pytest.param((), 0, id="empty"),
        pytest.param((b"hello, world",), 12, id="small"),
        pytest.param(tuple(b"" for _ in range(3)), 0, id="empty-chunks"),
        pytest.param(
            tuple(
                _random_bytes(3 * MiB + 123)[i : i + 64 * 1024] for i in range(0, 3 * MiB + 123, 64 * 1024)
            ),
            3 * MiB + 123,
            id="multi-mib",
        ),
    ],
)
async def test_put_then_get_round_trips(store: StoreUnderTest, parts: tuple[bytes, ...], size: int) -> None:
    backend = store.backend

    assert await backend.put("runs/r1/out.bin", _chunks(*parts)) == size

    assert await _read(backend, "runs/r1/out.bin") == b"".join(parts)
    info = await backend.stat("runs/r1/out.bin")
    assert info is not None
    assert info.size_bytes == size
    assert info.uri == backend.uri_for("runs/r1/out.bin")


async def test_get_yields_chunks_no_larger_than_asked(store: StoreUnderTest) -> None:
    data = _random_bytes(10_000)
    await store.backend.put("k", _chunks(data))

    async with contextlib.aclosing(store.backend.get("k", chunk_size=4096)) as chunks:
        received = [chunk async for chunk in chunks]

    assert b"".join(received) == data
    assert all(0 < len(chunk) <= 4096 for chunk in received)
    assert len(received) >= 3


@pytest.mark.parametrize("offset", [0, 1, 5000, 10_239, 10_240, 20_000])
async def test_get_from_an_offset(store: StoreUnderTest, offset: int) -> None:
    data = bytes(range(256)) * 40
    await store.backend.put("k", _chunks(data))

    assert await _read(store.backend, "k", offset=offset, chunk_size=1000) == data[offset:]


@pytest.mark.parametrize(("offset", "chunk_size"), [(-1, MiB), (0, 0), (0, -5)])
async def test_get_rejects_bad_ranges(store: StoreUnderTest, offset: int, chunk_size: int) -> None:
    await store.backend.put("k", _chunks(b"data"))

    with pytest.raises(InvalidArgument):
        await _read(store.backend, "k", offset=offset, chunk_size=chunk_size)


async def test_missing_object(store: StoreUnderTest) -> None:
    with pytest.raises(NotFound) as caught:
        await _read(store.backend, "no/such/object")

    assert caught.value.identifier == "no/such/object"
    assert await store.backend.stat("no/such/object") is None
    await store.backend.delete("no/such/object")


async def test_delete(store: StoreUnderTest) -> None:
    backend = store.backend
    await backend.put("a/b", _chunks(b"bytes"))
    await backend.put("a/c", _chunks(b"other"))

    await backend.delete("a/b")

    assert await backend.stat("a/b") is None
    with pytest.raises(NotFound):
        await _read(backend, "a/b")
    assert await _read(backend, "a/c") == b"other"
    await backend.delete("a/b")


async def test_put_replaces_an_object(store: StoreUnderTest) -> None:
    await store.backend.put("k", _chunks(b"a long first version"))

    assert await store.backend.put("k", _chunks(b"short")) == 5

    assert await _read(store.backend, "k") == b"short"
    info = await store.backend.stat("k")
    assert info is not None
    assert info.size_bytes == 5


@pytest.mark.parametrize(
    "key", ["model.pkl", "runs/r1/train/model/saved_model.pb", "données/été 2024/résultat.txt", "a b+c=d%20e"]
)
async def test_keys_with_any_safe_name(store: StoreUnderTest, key: str) -> None:
    await store.backend.put(key, _chunks(key.encode()))

    assert await _read(store.backend, key) == key.encode()
    assert store.backend.key_for(store.backend.uri_for(key)) == key


async def test_objects_are_independent(store: StoreUnderTest) -> None:
    backend = store.backend
    await asyncio.gather(
        *(backend.put(f"run/task-{i}/out", _chunks(str(i).encode() * 1000)) for i in range(8))
    )

    for i in range(8):
        assert await _read(backend, f"run/task-{i}/out") == str(i).encode() * 1000


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_rejected_and_nothing_is_written(store: StoreUnderTest, key: str) -> None:
    backend = store.backend

    with pytest.raises(InvalidArgument, match="invalid object key") as caught:
        await backend.put(key, _never_read())
    if len(key) < 100:
        assert repr(key) in caught.value.message
    with pytest.raises(InvalidArgument):
        await _read(backend, key)
    with pytest.raises(InvalidArgument):
        await backend.stat(key)
    with pytest.raises(InvalidArgument):
        backend.uri_for(key)
    with pytest.raises(InvalidArgument):
        backend.local_path(key)

    assert await store.list_everything() == []


@pytest.mark.parametrize("key", [k for k in BAD_KEYS if k != "/etc/passwd"] + ["<absolute canary>"])
async def test_delete_refuses_unsafe_keys(store: StoreUnderTest, key: str, tmp_path: Path) -> None:
    # An absolute path of our own, not /etc/passwd: a backend that failed this test must not
    # have deleted anything that matters.
    canary = tmp_path / "canary"
    canary.write_bytes(b"still here")
    key = str(canary) if key == "<absolute canary>" else key

    with pytest.raises(InvalidArgument):
        await store.backend.delete(key)

    assert canary.read_bytes() == b"still here"


async def test_too_large_leaves_nothing(store: StoreUnderTest) -> None:
    with pytest.raises(TooLarge) as caught:
        await store.backend.put("big/object", _chunks(b"12345", b"678901"), max_bytes=10)

    assert caught.value.limit_bytes == 10
    assert await store.backend.stat("big/object") is None
    assert await store.list_everything() == []


async def test_an_object_of_exactly_max_bytes_fits(store: StoreUnderTest) -> None:
    assert await store.backend.put("k", _chunks(b"12345", b"67890"), max_bytes=10) == 10


async def test_too_large_keeps_the_previous_object(store: StoreUnderTest) -> None:
    await store.backend.put("k", _chunks(b"old"))

    with pytest.raises(TooLarge):
        await store.backend.put("k", _chunks(b"far too many bytes"), max_bytes=4)

    assert await _read(store.backend, "k") == b"old"


async def test_a_failing_upload_leaves_nothing(store: StoreUnderTest) -> None:
    await store.backend.put("kept", _chunks(b"old"))

    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.backend.put("new/object", failing())
    with pytest.raises(ConnectionResetError):
        await store.backend.put("kept", failing())

    assert await store.backend.stat("new/object") is None
    assert await _read(store.backend, "kept") == b"old"
    assert len(await store.list_everything()) == 1  # just "kept"


async def test_a_cancelled_upload_leaves_nothing(store: StoreUnderTest) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"first chunk"
        started.set()
        await asyncio.Event().wait()
        yield b"never"

    upload = asyncio.create_task(store.backend.put("stalled/object", stalled()))
    async with asyncio.timeout(10):
        await started.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert await store.backend.stat("stalled/object") is None
    assert await store.list_everything() == []


async def test_uri_and_key_round_trip(store: StoreUnderTest) -> None:
    backend = store.backend
    for key in ["a", "a/b/c.txt", "runs/r-1/t/model"]:
        uri = backend.uri_for(key)
        assert "://" in uri
        assert uri.endswith("/" + key)
        assert backend.key_for(uri) == key


async def test_key_for_rejects_uris_outside_the_store(store: StoreUnderTest) -> None:
    backend = store.backend
    inside = backend.uri_for("x/y")
    foreign = [
        "",
        "no scheme",
        "http://example.invalid/x",
        "gs://sluice-contract-foreign/x",
        "minio://sluice-contract-foreign/x",
        "file:///etc/passwd",
        inside.replace("x/y", "../y"),
        inside.replace("x/y", "x//y"),
        inside.replace("/x/y", "-evil/x/y"),
        inside.replace("x/y", ""),
    ]
    for uri in foreign:
        with pytest.raises(InvalidArgument):
            backend.key_for(uri)


async def test_local_path_when_there_is_one_holds_the_object(store: StoreUnderTest) -> None:
    await store.backend.put("a/b", _chunks(b"in place"))

    path = store.backend.local_path("a/b")

    if path is not None:
        assert path.read_bytes() == b"in place"

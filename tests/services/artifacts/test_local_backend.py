"""What only the local backend has: file URIs, in-place paths, symlinks, directories."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.artifacts.backends import LocalBackend
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, TooLarge


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(backend: LocalBackend, key: str) -> bytes:
    async with contextlib.aclosing(backend.get(key)) as chunks:
        return b"".join([chunk async for chunk in chunks])


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not p.is_dir())


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def backend(root: Path) -> LocalBackend:
    return LocalBackend(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_bytes(b"secret")
    return directory


def test_uris_name_the_resolved_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    backend = LocalBackend(tmp_path / "alias")

    assert backend.root == real
    assert backend.uri_for("a/b.txt") == f"file://{real}/a/b.txt"
    assert backend.key_for(f"file://{real}/a/b.txt") == "a/b.txt"


async def test_objects_are_plain_files_at_local_path(backend: LocalBackend, root: Path) -> None:
    await backend.put("runs/r1/model.pkl", _chunks(b"weights"))

    assert backend.local_path("runs/r1/model.pkl") == root / "runs/r1/model.pkl"
    assert (root / "runs/r1/model.pkl").read_bytes() == b"weights"
    assert _files(root) == ["runs/r1/model.pkl"]


async def test_a_file_written_in_place_is_an_object(backend: LocalBackend) -> None:
    path = backend.local_path("task/out.txt")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"written by a task")

    assert await _read(backend, "task/out.txt") == b"written by a task"
    info = await backend.stat("task/out.txt")
    assert info is not None
    assert info.size_bytes == 17


async def test_a_directory_link_out_of_the_root_is_refused(
    backend: LocalBackend, root: Path, outside: Path
) -> None:
    _link(root / "link", outside)

    with pytest.raises(InvalidArgument, match="resolves outside the store root"):
        await backend.put("link/planted", _chunks(b"x"))
    with pytest.raises(InvalidArgument, match="resolves outside the store root"):
        await backend.put("link/new/dir/planted", _chunks(b"x"))
    with pytest.raises(InvalidArgument):
        await _read(backend, "link/secret")
    with pytest.raises(InvalidArgument):
        await backend.stat("link/secret")
    with pytest.raises(InvalidArgument):
        await backend.delete("link/secret")
    with pytest.raises(InvalidArgument):
        backend.local_path("link/secret")

    assert _files(outside) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"


async def test_a_file_link_out_of_the_root_is_refused(
    backend: LocalBackend, root: Path, outside: Path
) -> None:
    _link(root / "leak", outside / "secret")

    with pytest.raises(InvalidArgument):
        await _read(backend, "leak")
    with pytest.raises(InvalidArgument):
        await backend.stat("leak")
    with pytest.raises(InvalidArgument):
        await backend.put("leak", _chunks(b"overwrite"))

    assert (outside / "secret").read_bytes() == b"secret"


async def test_links_that_stay_inside_the_root_are_followed(backend: LocalBackend, root: Path) -> None:
    await backend.put("real/data", _chunks(b"shared"))
    _link(root / "alias", root / "real")

    assert await _read(backend, "alias/data") == b"shared"


async def test_a_symlink_loop_is_refused(backend: LocalBackend, root: Path) -> None:
    _link(root / "loop", root / "loop")

    with pytest.raises(InvalidArgument):
        await backend.stat("loop/x")


async def test_an_object_cannot_be_a_directory_of_another(backend: LocalBackend, root: Path) -> None:
    await backend.put("a", _chunks(b"file"))
    await backend.put("c/d", _chunks(b"file"))

    with pytest.raises(FailedPrecondition, match="'a' is an object"):
        await backend.put("a/b", _chunks(b"x"))
    with pytest.raises(FailedPrecondition, match="names a directory"):
        await backend.put("c", _chunks(b"x"))

    assert _files(root) == ["a", "c/d"]


async def test_directories_are_not_objects(backend: LocalBackend, root: Path) -> None:
    await backend.put("dir/file", _chunks(b"x"))

    assert await backend.stat("dir") is None
    with pytest.raises(NotFound):
        await _read(backend, "dir")
    await backend.delete("dir")
    assert (root / "dir/file").exists()


async def test_a_failed_upload_removes_the_directories_it_made(backend: LocalBackend, root: Path) -> None:
    await backend.put("keep/x", _chunks(b"x"))

    with pytest.raises(TooLarge):
        await backend.put("keep/new/deeper/y", _chunks(b"too big"), max_bytes=1)

    assert _tree(root) == ["keep", "keep/x"]


async def test_concurrent_uploads_of_one_key_each_land_whole(backend: LocalBackend) -> None:
    versions = [bytes([i]) * 300_000 for i in range(6)]

    await asyncio.gather(*(backend.put("contended", _chunks(v[:150_000], v[150_000:])) for v in versions))

    assert await _read(backend, "contended") in versions


async def test_a_failed_upload_does_not_break_a_concurrent_one(backend: LocalBackend) -> None:
    for _ in range(20):
        results = await asyncio.gather(
            backend.put("shared/new/a", _chunks(b"way too large"), max_bytes=1),
            backend.put("shared/new/b", _chunks(b"fine")),
            return_exceptions=True,
        )
        assert isinstance(results[0], TooLarge)
        assert results[1] == 4
        await backend.delete("shared/new/b")


async def test_new_files_follow_the_umask(backend: LocalBackend, root: Path) -> None:
    await backend.put("k", _chunks(b"x"))

    umask = os.umask(0)
    os.umask(umask)
    assert (root / "k").stat().st_mode & 0o777 == 0o666 & ~umask

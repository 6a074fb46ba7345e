"""The local filesystem backend: objects are files under one root directory.

Writes go to a temporary file next to the target and are renamed into place, so readers
see the old object or the new one, never a partial one. Every path is checked after
resolving symlinks, so a link inside the root cannot lead a key outside it. File I/O runs
in worker threads, a chunk at a time, so large objects never block the event loop.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from services.artifacts.backends.base import DEFAULT_CHUNK_SIZE, ObjectInfo
from services.artifacts.keys import file_uri, key_in_root, shown, validate_key
from services.artifacts.threads import close_file, in_thread
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, TooLarge

# Bytes gathered from the incoming chunks before one write in a worker thread.
_WRITE_BATCH_BYTES = 1024 * 1024
# A failed upload removes the directories it created; a concurrent upload into the same new
# directory may then find it gone, and starts again.
_STAGE_ATTEMPTS = 5


@dataclass
class _Staged:
    """An upload in progress: the open temporary file and the directories made for it."""

    file: BinaryIO
    temp: Path
    created_dirs: list[Path] = field(default_factory=list)


class LocalBackend:
    """Objects stored as files under `root`; URIs are `file://<resolved root>/<key>`."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).resolve()

    @property
    def root(self) -> Path:
        return self._root

    def uri_for(self, key: str) -> str:
        return file_uri(PurePosixPath(self._root), key)

    def key_for(self, uri: str) -> str:
        return key_in_root(uri, PurePosixPath(self._root))

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int:
        path = self._path_for(key)
        if max_bytes is not None and max_bytes < 0:
            raise InvalidArgument(f"max_bytes must not be negative, got {max_bytes}", field="max_bytes")
        staged = await in_thread(self._stage, key, path, abandon=self._discard)
        try:
            size = 0
            batch: list[bytes] = []
            batched = 0
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(
                        f"object {shown(key)} is larger than the limit of {max_bytes} bytes",
                        limit_bytes=max_bytes,
                    )
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _WRITE_BATCH_BYTES:
                    await in_thread(staged.file.write, b"".join(batch))
                    batch, batched = [], 0
            if batch:
                await in_thread(staged.file.write, b"".join(batch))
            await in_thread(self._commit, key, path, staged)
        except BaseException:
            # No worker thread is still using the file here (`in_thread`), so this is safe
            # even when the upload was cancelled.
            self._discard(staged)
            raise
        return size

    async def get(
        self, key: str, *, offset: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        if offset < 0:
            raise InvalidArgument(f"offset must not be negative, got {offset}", field="offset")
        if chunk_size < 1:
            raise InvalidArgument(f"chunk_size must be positive, got {chunk_size}", field="chunk_size")
        path = self._path_for(key)
        file = await in_thread(self._open_for_read, key, path, offset, abandon=close_file)
        try:
            while data := await in_thread(file.read, chunk_size):
                yield data
        finally:
            file.close()

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path_for(key)
        size = await in_thread(self._size, key, path)
        return None if size is None else ObjectInfo(uri=self.uri_for(key), size_bytes=size)

    async def delete(self, key: str) -> None:
        path = self._path_for(key)
        await in_thread(self._unlink, key, path)

    def local_path(self, key: str) -> Path:
        path = self._path_for(key)
        self._check_inside(key, path)
        return path

    async def aclose(self) -> None:
        return None

    # --- paths ------------------------------------------------------------------------
    def _path_for(self, key: str) -> Path:
        return self._root / validate_key(key)

    def _check_inside(self, key: str, path: Path) -> Path:
        """`path` with symlinks resolved; InvalidArgument unless it stays under the root."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
            raise InvalidArgument(f"invalid object key {shown(key)}: {error}", field="key") from error
        if resolved != self._root and not resolved.is_relative_to(self._root):
            raise InvalidArgument(
                f"invalid object key {shown(key)}: resolves outside the store root", field="key"
            )
        return resolved

    # --- blocking parts, run in worker threads ----------------------------------------
    def _stage(self, key: str, path: Path) -> _Staged:
        created: list[Path] = []
        attempt = 1
        try:
            while True:
                try:
                    self._make_parents(key, path, created)
                    temp = path.parent / f".sluice-{uuid.uuid4().hex}.part"
                    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                except FileNotFoundError:
                    # A failed upload removed a directory this one was about to use.
                    if attempt == _STAGE_ATTEMPTS:
                        raise
                    attempt += 1
                    continue
                return _Staged(file=os.fdopen(fd, "wb"), temp=temp, created_dirs=created)
        except BaseException:
            _remove_dirs(created)
            raise

    def _make_parents(self, key: str, path: Path, created: list[Path]) -> None:
        """Create the missing directories between the root and `path`, recording them in
        `created`, after checking that no existing part of the path links out of the root."""
        self._check_inside(key, path)
        directory = self._root
        directory.mkdir(parents=True, exist_ok=True)
        for part in path.parent.relative_to(self._root).parts:
            directory = directory / part
            try:
                directory.mkdir()
            except FileExistsError:
                if not directory.is_dir():
                    prefix = directory.relative_to(self._root).as_posix()
                    raise FailedPrecondition(
                        f"object key {shown(key)} cannot be stored: {prefix!r} is an object"
                    ) from None
            else:
                created.append(directory)

    def _commit(self, key: str, path: Path, staged: _Staged) -> None:
        staged.file.close()
        self._check_inside(key, path)
        try:
            os.replace(staged.temp, path)
        except IsADirectoryError:
            raise FailedPrecondition(
                f"object key {shown(key)} cannot be stored: it names a directory"
            ) from None

    def _discard(self, staged: _Staged) -> None:
        with contextlib.suppress(OSError):
            staged.file.close()
        with contextlib.suppress(OSError):
            staged.temp.unlink(missing_ok=True)
        _remove_dirs(staged.created_dirs)

    def _open_for_read(self, key: str, path: Path, offset: int) -> BinaryIO:
        resolved = self._check_inside(key, path)
        try:
            # Non-blocking, so a FIFO a task left in its output cannot hang a worker thread.
            fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("object", key) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotFound("object", key)
            os.set_blocking(fd, True)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    def _size(self, key: str, path: Path) -> int | None:
        resolved = self._check_inside(key, path)
        try:
            info = resolved.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def _unlink(self, key: str, path: Path) -> None:
        self._check_inside(key, path)
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                return
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return


def _remove_dirs(created: list[Path]) -> None:
    """Remove directories an upload created, deepest first, keeping any that filled up."""
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()

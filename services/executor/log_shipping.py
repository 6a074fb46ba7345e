"""Copy a running attempt's log to the artifact store as it grows, so it can be read live.

The log is written to a local file by the launcher; the gateway, the UI and `sluice logs
--follow` read it from the artifact store, possibly on another machine. So while the
attempt runs, the whole file is uploaded again whenever it has grown: the store's writes
replace an object atomically, and a log only grows, so a reader that remembers its offset
never sees bytes change under it. The final copy is made by the worker after the attempt.

Uploading the whole file is quadratic in a log's length; the pause between uploads grows
with the time an upload takes, so a chatty task spends at most a fifth of its time on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Protocol

from services.core import errors

logger = logging.getLogger(__name__)

# Wait at least this many times the last upload's duration before the next one.
_PAUSE_PER_UPLOAD_TIME = 4.0


class LogUploader(Protocol):
    async def upload_file(self, path: Path | str, uri: str) -> int: ...


class LogShipper:
    """Uploads `path` to `uri` every `interval` seconds while it grows, from `start()` to
    `aclose()`. Files older than the shipper (left by an earlier run of the same attempt
    directory) are not uploaded."""

    def __init__(self, uploader: LogUploader, path: Path, uri: str, *, interval: float) -> None:
        self._uploader = uploader
        self._path = path
        self._uri = uri
        self._interval = interval
        self._shipped_size = -1
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._ship_while_running())

    async def aclose(self) -> None:
        """Stop; an upload in progress is abandoned (the worker's final upload follows)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _ship_while_running(self) -> None:
        loop = asyncio.get_running_loop()
        # A second of slack: some filesystems keep modification times coarsely.
        born = time.time_ns() - 1_000_000_000
        pause = self._interval
        while True:
            await asyncio.sleep(pause)
            size = _size_if_fresh(self._path, born_after_ns=born)
            if size is None or size == self._shipped_size:
                continue
            began = loop.time()
            try:
                await self._uploader.upload_file(self._path, self._uri)
            except FileNotFoundError:
                continue
            except errors.SluiceError as error:
                logger.debug("live copy of %s failed, trying again later: %s", self._path, error)
                continue
            self._shipped_size = size
            pause = max(self._interval, _PAUSE_PER_UPLOAD_TIME * (loop.time() - began))


def _size_if_fresh(path: Path, *, born_after_ns: int) -> int | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    if stat.st_mtime_ns < born_after_ns:
        return None
    return stat.st_size
